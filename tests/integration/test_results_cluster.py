"""`kubetune results --cluster` reads a study and its Trials from a real API server.

No operator runs here: the test writes a TuningStudy and Trials (rendered by the operator's own
``render_trial``, attributes included) with their statuses straight through the API, so what
`results` must show is known exactly. The same objects also show that the Trial CRD admits
attributes within their bounds and refuses the rest with the CRD's own words.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune.cli import main
from kubetune.kube import objects
from kubetune.kube.reader import ReaderSettings, read_cluster_study
from tests.cluster.fixtures import TestCluster
from tests.integration.operator_fixtures import GROUP, VERSION

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, tzinfo=UTC)


def manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objectives": [
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
            ],
            "metrics": ["latency"],
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "budget": {"maxTrials": 4, "parallelTrials": 4},
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "image": "x"}]}}}
            },
        },
    }


def add_trial(
    custom: client.CustomObjectsApi,
    namespace: str,
    study: dict[str, Any],
    index: int,
    attributes: dict[str, Any],
    status: dict[str, Any],
) -> None:
    name = study["metadata"]["name"]
    body = objects.render_trial(
        name, namespace, study["metadata"]["uid"], index, {"x": index / 10}, None, attributes
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "trials", body, field_validation="Strict"
    )
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "trials", body["metadata"]["name"], {"status": status}
    )


def finished(a: float, b: float, seconds: int) -> dict[str, Any]:
    return {
        "phase": "Succeeded",
        "reason": "Completed",
        "values": {"a": a, "b": b, "latency": a * 10},
        "intermediate": [{"step": 1, "values": {"a": a, "b": b}}],
        "exitCode": 0,
        "startTime": START.isoformat(),
        "completionTime": (START + timedelta(seconds=seconds)).isoformat(),
        "gpuSeconds": float(seconds),
    }


@pytest.fixture
def study(crds: None, custom: client.CustomObjectsApi, namespace: str) -> str:
    """Study `front` with three succeeded trials (0 and 1 on the front) and a failed one."""
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningstudies", manifest("front")
    )
    other = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningstudies", manifest("other")
    )
    add_trial(custom, namespace, created, 0, {"generation": 0}, finished(1.0, 3.0, 10))
    add_trial(custom, namespace, created, 1, {"generation": 1, "parent": 0}, finished(2.0, 1.0, 20))
    add_trial(custom, namespace, created, 2, {"generation": 1, "parent": 0}, finished(3.0, 3.0, 5))
    failure = {"phase": "Failed", "reason": "Error", "message": "exit 1\nCUDA out of memory"}
    add_trial(custom, namespace, created, 3, {"checkpoint": "s3://b/ck/3"}, failure)
    add_trial(custom, namespace, other, 0, {}, finished(0.0, 0.0, 1))
    return "front"


def test_results_cluster_shows_trials_attributes_and_the_front(
    study: str, cluster: TestCluster, namespace: str, capsys: Any
) -> None:
    argv = ["results", study, "--cluster", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    assert main([*argv, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["trial"] for r in rows] == [0, 1, 2, 3]
    assert [r["pareto"] for r in rows] == [True, True, False, False]
    assert [r["latency"] for r in rows] == [10.0, 20.0, 30.0, None]
    assert [r["seconds"] for r in rows] == [10.0, 20.0, 5.0, None]
    assert rows[1]["attributes.parent"] == 0 and rows[3]["attributes.checkpoint"] == "s3://b/ck/3"
    assert rows[3]["message"] == "exit 1\nCUDA out of memory"

    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "Pareto front (2 trials of " in table and "feasible, hypervolume " in table
    assert "marked * above):" in table
    assert "front-1: a=2, b=1  (x=0.1)" in table
    assert "CUDA out of memory" in table


def test_the_record_reads_every_page_of_trials(
    study: str, cluster: TestCluster, namespace: str
) -> None:
    record = read_cluster_study(study, namespace, cluster.kubeconfig, ReaderSettings(page_size=1))
    assert [t.index for t in record.trials] == [0, 1, 2, 3]
    assert record.trials[0].gpu_seconds == 10.0 and record.trials[0].exit_code == 0
    assert record.trials[0].intermediate[0].values == {"a": 1.0, "b": 3.0}
    assert record.summary.pareto_indices == (0, 1)
    assert record.source.startswith(f"{namespace}/front on https://")


def test_the_namespace_defaults_to_the_kubeconfig_context(
    study: str, cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    current["context"]["namespace"] = namespace
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    assert [t.index for t in read_cluster_study(study, None, kubeconfig).trials] == [0, 1, 2, 3]


def test_a_missing_study_names_the_studies_that_are_there(
    study: str, cluster: TestCluster, namespace: str, capsys: Any
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    assert main(["results", "frnot", "--cluster", "-n", namespace, "--kubeconfig", kubeconfig]) == 1
    err = capsys.readouterr().err
    assert f"error: no TuningStudy 'frnot' in namespace '{namespace}'" in err
    assert "(studies there: front, other)" in err


def test_the_trial_crd_refuses_more_attributes_than_the_bound(
    crds: None, custom: client.CustomObjectsApi, namespace: str
) -> None:
    attributes = {f"k{i}": i for i in range(17)}
    body = objects.render_trial("s", namespace, "uid", 0, {"x": 0.5}, None, attributes)
    body["metadata"].pop("ownerReferences")
    with pytest.raises(client.ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "trials", body)
    assert refused.value.status == 422
    assert "must have at most 16 items" in str(refused.value.body)
