"""``kubetune convert`` from Katib: the corpus converts into valid, commented studies."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.convert import Conversion, ConversionError, NoteKind, convert_experiment, render
from kubetune.convert._katib_algorithm import translate_algorithm
from kubetune.validation import parse_study

CORPUS = Path(__file__).parent / "corpus"
TRIAL_SPECS = Path(__file__).parent / "trial-specs"
NEEDS_TRIAL_SPEC = {"configmap-source.yaml"}
EXPERIMENTS = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name not in NEEDS_TRIAL_SPEC)


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CORPUS / name).read_text())
    return document


def convert(name: str) -> Conversion:
    return convert_experiment(load(name))


def container(conversion: Conversion) -> dict[str, Any]:
    job = conversion.manifest["spec"]["trialTemplate"]["job"]
    first: dict[str, Any] = job["template"]["spec"]["containers"][0]
    return first


def sources(conversion: Conversion, kind: NoteKind | None = None) -> list[str]:
    return [n.source for n in conversion.notes if kind is None or n.kind is kind]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_corpus_experiment_becomes_a_valid_study_whose_yaml_reads_back(name: str) -> None:
    conversion = convert(name)
    parse_study(conversion.manifest)
    text = render(conversion.manifest, conversion.notes, name)
    assert yaml.safe_load(text) == conversion.manifest
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for note in conversion.notes:  # every note is in the file, by the field it names
        assert note.source in comments.replace("\n#   ", " ").replace("\n  #   ", " ")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_note_names_a_field_of_the_katib_experiment(name: str) -> None:
    document = load(name)
    for source in sources(convert(name)):
        node: Any = document
        # the path's parent exists in the input (the field itself may be an unset default)
        for part in source.split(".")[:2]:
            key, _, index = part.partition("[")
            node = node[key]
            if index:
                node = node[int(index.split("]")[0])]


def test_random_search_with_stdout_metrics_converts_exactly() -> None:
    conversion = convert("random-stdout.yaml")
    spec = conversion.manifest["spec"]
    assert not conversion.is_lossy
    assert conversion.manifest["metadata"] == {"name": "mnist-random", "namespace": "tuning"}
    assert spec["objective"] == {"metric": "accuracy", "direction": "maximize", "target": 0.99}
    assert spec["metrics"] == ["loss"]
    assert spec["parameters"] == [
        {"name": "lr", "type": "float", "low": 0.001, "high": 0.1, "log": True},
        {"name": "momentum", "type": "float", "low": 0.5, "high": 0.99},
        {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    ]
    assert spec["seed"] == 42
    assert spec["budget"] == {"maxTrials": 8, "parallelTrials": 2, "maxFailedTrials": 2}
    assert spec["trialTemplate"]["primaryContainer"] == "training"
    assert container(conversion)["command"] == [
        "kubetune-runner", "--metrics", "accuracy,loss", "--", "sh", "-c", 'exec "$@" 2>&1', "sh",
        "python", "train.py", "--lr=${params.lr}", "--momentum=${params.momentum}",
        "--optimizer=${params.optimizer}",
    ]  # fmt: skip


def test_grid_with_discrete_values_medianstop_and_trial_name() -> None:
    conversion = convert("grid-discrete.yaml")
    spec = conversion.manifest["spec"]
    assert spec["parameters"][0] == {
        "name": "layers",
        "type": "int",
        "low": 1,
        "high": 4,
        "step": 1,
    }
    assert spec["parameters"][1]["choices"] == [0.1, 0.25, 0.5]
    assert spec["earlyStopping"] == {"rule": "median", "settings": {"minTrials": 2, "startStep": 3}}
    assert spec["budget"]["parallelTrials"] == 3
    assert "--out /results/${trial}" in container(conversion)["args"][0]
    assert "spec.resumePolicy" in sources(conversion, NoteKind.CHANGED)
    assert "spec.parameters[1].feasibleSpace.list" in sources(conversion, NoteKind.CHANGED)


def test_medianstop_without_settings_gets_katibs_defaults() -> None:
    document = load("grid-discrete.yaml")
    del document["spec"]["earlyStopping"]["algorithmSettings"]
    settings = convert_experiment(document).manifest["spec"]["earlyStopping"]["settings"]
    assert settings == {"minTrials": 3, "startStep": 4}


def test_bayesian_optimization_settings_are_renamed_or_reported() -> None:
    conversion = convert("bayesopt-file.yaml")
    spec = conversion.manifest["spec"]
    assert spec["algorithm"] == {"name": "bayesopt", "settings": {"nInitialTrials": 5}}
    assert spec["seed"] == 7
    assert "spec.algorithm.algorithmSettings[2]" in sources(conversion, NoteKind.APPROXIMATED)
    assert "spec.algorithm.algorithmSettings[3]" in sources(conversion, NoteKind.DROPPED)
    # log scale and a step cannot be combined: the step goes, with a note
    assert spec["parameters"][0] == {
        "name": "weight_decay", "type": "float", "low": 0.0001, "high": 0.01, "log": True
    }  # fmt: skip
    assert "spec.parameters[0].feasibleSpace.step" in sources(conversion, NoteKind.APPROXIMATED)


def test_file_collectors_become_runner_options() -> None:
    text = container(convert("bayesopt-file.yaml"))["command"][:7]
    assert text == ["kubetune-runner", "--metrics-file", "/var/log/metrics.txt",
                    "--metrics-format", "TEXT", "--metrics", "val_loss"]  # fmt: skip
    assert container(convert("tpe-json-file.yaml"))["command"][4] == "JSON"


def test_tpe_settings_and_a_normal_distribution() -> None:
    conversion = convert("tpe-json-file.yaml")
    spec = conversion.manifest["spec"]
    assert spec["algorithm"]["settings"] == {"nStartupTrials": 4, "nEiCandidates": 32}
    assert "spec.algorithm.algorithmName" in sources(conversion, NoteKind.APPROXIMATED)
    assert spec["parameters"][0] == {"name": "threshold", "type": "float", "low": 0.2, "high": 0.8}
    assert "spec.parameters[0].feasibleSpace.distribution" in sources(
        conversion, NoteKind.APPROXIMATED
    )
    env = container(conversion)["env"]
    assert env == [{"name": "THRESHOLD", "value": "${params.threshold}"},
                   {"name": "DEPTH", "value": "${params.depth}"}]  # fmt: skip


def test_multivariate_tpe_and_push_metrics() -> None:
    conversion = convert("multivariate-tpe-push.yaml")
    spec = conversion.manifest["spec"]
    assert spec["algorithm"] == {
        "name": "tpe",
        "settings": {"nEiCandidates": 16, "gamma": 0.25, "priorWeight": 1.5},
    }
    assert "spec.algorithm.algorithmName" not in sources(conversion)  # kubetune's is multivariate
    assert container(conversion)["command"][:7] == [
        "kubetune-runner", "--no-parse", "--", "python", "-m", "kubetune_runner.katib", "push.py"
    ]  # fmt: skip


def test_push_from_a_program_started_otherwise_is_reported() -> None:
    document = load("multivariate-tpe-push.yaml")
    job = document["spec"]["trialTemplate"]["trialSpec"]["spec"]
    job["template"]["spec"]["containers"][0]["command"] = ["/app/train"]
    conversion = convert_experiment(document)
    assert container(conversion)["command"] == ["kubetune-runner", "--no-parse", "--", "/app/train"]
    assert any(
        s.endswith("containers[main].command") for s in sources(conversion, NoteKind.APPROXIMATED)
    )


def test_cmaes_sigma_becomes_a_fraction_of_the_range() -> None:
    settings = convert("cmaes.yaml").manifest["spec"]["algorithm"]["settings"]
    assert settings == {"sigma0": 0.5 / 4, "restartStrategy": "ipop"}


def test_hyperband_resource_parameter_becomes_the_budget() -> None:
    conversion = convert("hyperband.yaml")
    spec = conversion.manifest["spec"]
    assert [p["name"] for p in spec["parameters"]] == ["lr"]
    assert spec["budget"]["resource"] == {"name": "epochs", "min": 1, "max": 9}
    assert spec["algorithm"]["settings"] == {"reductionFactor": 3}
    assert "--epochs=${budget}" in container(conversion)["command"]
    assert not any("parameters[1]" in s for s in sources(conversion))


def test_sobol_with_tensorflow_events_and_job_labels_is_lossy() -> None:
    conversion = convert("sobol-tfevent.yaml")
    assert conversion.manifest["spec"]["parameters"][0]["log"] is True
    assert "spec.metricsCollectorSpec.collector.kind" in sources(conversion, NoteKind.APPROXIMATED)
    assert "spec.trialTemplate.trialSpec.metadata.labels" in sources(conversion, NoteKind.DROPPED)


def test_dashed_names_metadata_references_and_a_custom_filter() -> None:
    conversion = convert("dashed-names-custom-filter.yaml")
    spec = conversion.manifest["spec"]
    assert [p["name"] for p in spec["parameters"]] == ["lr", "batch-size"]
    assert spec["parameters"][1]["choices"] == [32, 64, 128]
    assert container(conversion)["args"] == [
        "--lr", "${params.lr}", "--batch-size", "${params.batch-size}",
        "--ns=research", "--kind=Job",
    ]  # fmt: skip
    assert "spec.metricsCollectorSpec.source.filter.metricsFormat" in sources(
        conversion, NoteKind.APPROXIMATED
    )
    assert "spec.trialTemplate.retain" in sources(conversion, NoteKind.CHANGED)  # retain: true


def test_a_configmap_template_is_taken_from_the_given_trial_spec() -> None:
    trial_spec = yaml.safe_load((TRIAL_SPECS / "configmap-source.yaml").read_text())
    conversion = convert_experiment(load("configmap-source.yaml"), trial_spec)
    parse_study(conversion.manifest)
    assert container(conversion)["command"][-1] == "--x=${params.x}"
    assert "spec.trialTemplate.configMap" in sources(conversion, NoteKind.CHANGED)


def test_a_placeholder_outside_command_args_and_env_is_reported() -> None:
    document = load("random-stdout.yaml")
    job = document["spec"]["trialTemplate"]["trialSpec"]["spec"]
    job["template"]["spec"]["containers"][0]["image"] = "example.org/${trialParameters.optimizer}"
    conversion = convert_experiment(document)
    assert any(
        s.endswith("containers[0].image") for s in sources(conversion, NoteKind.APPROXIMATED)
    )


def test_a_missing_trial_limit_and_too_many_parallel_trials() -> None:
    document = load("random-stdout.yaml")
    del document["spec"]["maxTrialCount"]
    document["spec"]["parallelTrialCount"] = 50
    conversion = convert_experiment(document)
    assert conversion.manifest["spec"]["budget"]["maxTrials"] == 20
    assert conversion.manifest["spec"]["budget"]["parallelTrials"] == 20
    assert "spec.maxTrialCount" in sources(conversion, NoteKind.APPROXIMATED)


def test_unknown_spec_fields_and_early_stopping_are_reported() -> None:
    document = load("random-stdout.yaml")
    document["spec"]["somethingNew"] = {"a": 1}
    document["spec"]["earlyStopping"] = {"algorithmName": "hyperbandstop"}
    dropped = sources(convert_experiment(document), NoteKind.DROPPED)
    assert "spec.somethingNew" in dropped and "spec.earlyStopping.algorithmName" in dropped


def test_pbt_is_translated_but_needs_a_training_resource() -> None:
    """Katib's PBT has no training resource; kubetune's trains in segments of one, so the
    converted study is refused naming spec.budget.resource, and the settings translate."""
    document = load("random-stdout.yaml")
    document["spec"]["algorithm"] = {
        "algorithmName": "pbt",
        "algorithmSettings": [
            {"name": "n_population", "value": "8"},
            {"name": "truncation_threshold", "value": "0.2"},
        ],
    }
    with pytest.raises(ConversionError, match=r"spec.budget.resource: pbt hands out a training"):
        convert_experiment(copy.deepcopy(document))
    translation = translate_algorithm(document["spec"]["algorithm"], [], [])
    assert (translation.name, translation.settings) == (
        "pbt",
        {"populationSize": 8, "quantile": 0.2},
    )


def test_trial_parameter_descriptions_become_comments_on_their_parameters() -> None:
    conversion = convert("random-stdout.yaml")
    text = render(conversion.manifest, conversion.notes, "random-stdout.yaml")
    assert "description: Learning rate (kept as this" in text
    (note,) = [n for n in conversion.notes if n.source.endswith("description")]
    assert note.target == "spec.parameters[0]"


def test_a_program_logging_metrics_to_stderr_is_parsed_as_by_katib(tmp_path: Path) -> None:
    import subprocess

    command = container(convert("random-stdout.yaml"))["command"]
    shell = command[command.index("--") + 1 : command.index("python")]
    program = ["python3", "-c", "import sys; print('accuracy=0.5', file=sys.stderr)"]
    result = subprocess.run([*shell, *program], capture_output=True, text=True, timeout=30)
    assert result.stdout == "accuracy=0.5\n"


def test_a_gpu_limit_becomes_the_templates_gpu_resources() -> None:
    conversion = convert("cmaes.yaml")
    template = conversion.manifest["spec"]["trialTemplate"]
    assert template["resources"] == {"gpus": 2, "gpuResource": "nvidia.com/gpu"}
    assert container(conversion)["resources"] == {"limits": {"memory": "8Gi"}}


def test_notes_follow_their_parameter_when_the_resource_parameter_leaves_before_it() -> None:
    document = load("hyperband.yaml")
    lr, epochs = document["spec"]["parameters"]
    lr["feasibleSpace"]["distribution"] = "normal"
    document["spec"]["parameters"] = [epochs, lr]
    conversion = convert_experiment(document)
    (note,) = [n for n in conversion.notes if n.source.startswith("spec.parameters")]
    assert (note.source, note.target) == ("spec.parameters[1].feasibleSpace.distribution",
                                          "spec.parameters[0]")  # fmt: skip
    text = render(conversion.manifest, conversion.notes, "hyperband.yaml")
    assert text.index("spec.parameters[1].feasibleSpace") < text.index("- {name: lr")


@pytest.mark.parametrize("kind", ["PrometheusMetric", "Custom", "None", "TensorFlowEvent"])
def test_collectors_the_runner_cannot_read_fall_back_to_stdout_with_a_note(kind: str) -> None:
    document = load("random-stdout.yaml")
    document["spec"]["metricsCollectorSpec"] = {"collector": {"kind": kind}}
    conversion = convert_experiment(document)
    assert container(conversion)["command"][:4] == [
        "kubetune-runner",
        "--metrics",
        "accuracy,loss",
        "--",
    ]
    assert "spec.metricsCollectorSpec.collector.kind" in sources(conversion, NoteKind.APPROXIMATED)


def test_an_unknown_collector_kind_is_refused() -> None:
    document = load("random-stdout.yaml")
    document["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Carrier-pigeon"}}
    with pytest.raises(ConversionError, match="'Carrier-pigeon' is not one of StdOut"):
        convert_experiment(document)
