"""Bad input and what kubetune refuses: each a clear message naming the Katib field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.convert import ConversionError, convert_experiment

CORPUS = Path(__file__).parent / "corpus"


def experiment() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CORPUS / "random-stdout.yaml").read_text())
    return document


def refusal(document: Any) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        convert_experiment(document)
    return caught.value


def test_not_an_experiment() -> None:
    document = experiment() | {"kind": "TuningStudy"}
    error = refusal(document)
    assert error.source == "kind" and "expected a Katib Experiment" in str(error)
    assert refusal(["a", "list"]).source == "(document)"


def test_an_older_katib_api() -> None:
    error = refusal(experiment() | {"apiVersion": "kubeflow.org/v1alpha3"})
    assert error.source == "apiVersion" and "v1beta1" in str(error)


def test_an_unknown_algorithm_name() -> None:
    document = experiment()
    document["spec"]["algorithm"]["algorithmName"] = "simulated-annealing"
    error = refusal(document)
    assert error.source == "spec.algorithm.algorithmName"
    assert "'simulated-annealing' is not a Katib algorithm" in str(error) and "tpe" in str(error)


def test_min_greater_than_max() -> None:
    document = experiment()
    document["spec"]["parameters"][1]["feasibleSpace"] = {"min": "0.9", "max": "0.5"}
    error = refusal(document)
    assert error.source == "spec.parameters[1].feasibleSpace"
    assert "min (0.9) is greater than max (0.5)" in str(error)


def test_a_bound_that_is_not_a_number() -> None:
    document = experiment()
    document["spec"]["parameters"][1]["feasibleSpace"]["max"] = "high"
    assert refusal(document).source == "spec.parameters[1].feasibleSpace.max"


def test_an_unknown_parameter_type_and_distribution() -> None:
    document = experiment()
    document["spec"]["parameters"][0]["parameterType"] = "float"
    assert refusal(document).source == "spec.parameters[0].parameterType"
    document = experiment()
    document["spec"]["parameters"][0]["feasibleSpace"]["distribution"] = "cauchy"
    assert refusal(document).source == "spec.parameters[0].feasibleSpace.distribution"


def test_a_trial_parameter_that_references_nothing() -> None:
    document = experiment()
    document["spec"]["trialTemplate"]["trialParameters"][1]["reference"] = "nesterov"
    error = refusal(document)
    assert error.source == "spec.trialTemplate.trialParameters[1].reference"
    assert "'nesterov' names no parameter" in str(error) and "momentum" in str(error)


def test_a_placeholder_for_an_undeclared_trial_parameter() -> None:
    document = experiment()
    del document["spec"]["trialTemplate"]["trialParameters"][2]
    error = refusal(document)
    assert error.source.endswith("template.spec.containers[0].command[4]")
    assert "${trialParameters.optimizer} is not in trialTemplate.trialParameters" in str(error)


@pytest.mark.parametrize("name", ["enas", "darts"])
def test_nas_algorithms_are_refused_with_the_alternative(name: str) -> None:
    document = experiment()
    document["spec"]["algorithm"]["algorithmName"] = name
    error = refusal(document)
    assert error.source == "spec.algorithm.algorithmName"
    assert "neural architecture search" in str(error) and "'when'" in str(error)


def test_a_nas_config_is_refused() -> None:
    document = experiment()
    document["spec"]["nasConfig"] = {"graphConfig": {"numLayers": 8}}
    error = refusal(document)
    assert error.source == "spec.nasConfig" and "conditional search space" in str(error)


@pytest.mark.parametrize(
    ("api_version", "kind", "advice"),
    [
        ("kubeflow.org/v1", "PyTorchJob", "torchrun"),
        ("kubeflow.org/v1", "TFJob", "MirroredStrategy"),
        ("kubeflow.org/v2beta1", "MPIJob", "mpirun"),
        ("kubeflow.org/v1", "XGBoostJob", "one Job"),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob", "one Job"),
        ("argoproj.io/v1alpha1", "Workflow", "Argo step"),
        ("tekton.dev/v1", "PipelineRun", "Tekton task"),
    ],
)
def test_trial_kinds_other_than_a_job_are_refused(api_version: str, kind: str, advice: str) -> None:
    document = experiment()
    trial_spec = document["spec"]["trialTemplate"]["trialSpec"]
    trial_spec["apiVersion"], trial_spec["kind"] = api_version, kind
    error = refusal(document)
    assert error.source == "spec.trialTemplate.trialSpec.kind"
    assert f"{kind} ({api_version}) trials are not supported" in str(error)
    assert advice in str(error)


def test_a_configmap_template_without_the_trial_spec_says_how_to_get_it() -> None:
    document = experiment()
    template = document["spec"]["trialTemplate"]
    del template["trialSpec"]
    template["configMap"] = {"configMapName": "templates", "templatePath": "job.yaml"}
    error = refusal(document)
    assert error.source == "spec.trialTemplate.configMap"
    assert "kubectl get configmap templates" in str(error) and "--trial-spec" in str(error)


def test_a_primary_container_that_is_not_in_the_job() -> None:
    document = experiment()
    document["spec"]["trialTemplate"]["primaryContainerName"] = "trainer"
    assert refusal(document).source == "spec.trialTemplate.primaryContainerName"


def test_a_converted_study_kubetune_would_reject_is_refused_with_the_reason() -> None:
    document = experiment()  # grid needs every parameter to have finitely many values
    document["spec"]["algorithm"] = {"algorithmName": "grid"}
    error = refusal(document)
    assert error.source == "(converted study)" and "kubetune would reject it" in str(error)
