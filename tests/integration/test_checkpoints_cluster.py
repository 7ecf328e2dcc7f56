"""Checkpoints handed between trial pods through a PersistentVolumeClaim, on the real control plane.

Each test creates a hostPath PersistentVolume pre-bound to its claim (the harness has no
provisioner; the controller-manager's binder binds the pair), mounts it through
``spec.trialTemplate.checkpoints`` at a path under the test's temp dir, and reads what the
trials wrote straight from the volume's host directory. The trials run
``trial_scripts/checkpointed.py``, which saves ``state.json`` with a copy of the parent
state it restored from, so each assertion is about what a pod really read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubetune.algorithms import REGISTRY
from kubetune.api.attributes import RESTORE_ATTRIBUTE
from kubetune.api.trial import trial_name
from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    GROUP,
    STUDY_LABEL,
    VERSION,
    condition,
    create_study,
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parent / "trial_scripts" / "checkpointed.py"
CLAIM = "checkpoints"
STATE = "state.json"


def checkpointed_study(name: str, mount: Path, **settings: Any) -> dict[str, Any]:
    """A study whose trials run checkpointed.py with the claim mounted at ``mount``."""
    manifest = study_manifest(name, **settings)
    spec = manifest["spec"]
    container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    command = container["command"]
    container["command"] = [*command[: command.index("--") + 1], sys.executable, str(SCRIPT)]
    container["command"] += ["--x", "${params.x}"]
    spec["trialTemplate"]["checkpoints"] = {
        "persistentVolumeClaim": {"claimName": CLAIM},
        "mountPath": str(mount),
    }
    return manifest


def create_volume(kube_api: client.ApiClient, namespace: str, host: Path) -> None:
    """A hostPath PersistentVolume and the claim it is pre-bound to; waits until Bound."""
    core = client.CoreV1Api(kube_api)
    volume = f"{namespace}-{CLAIM}"[:63]
    core.create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(host), "type": "DirectoryOrCreate"},
                "claimRef": {"namespace": namespace, "name": CLAIM},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    until(
        lambda: core.read_namespaced_persistent_volume_claim(CLAIM, namespace).status.phase,
        lambda phase: phase == "Bound",
        f"claim {CLAIM} bound to {volume}",
        timeout=60,
    )


@pytest.fixture
def host_volume(kube_api: client.ApiClient, namespace: str, tmp_path: Path) -> Any:
    """The host directory of the test's volume; the (cluster-scoped) PV is deleted after."""
    yield tmp_path / "volume"
    volume = f"{namespace}-{CLAIM}"[:63]
    try:
        client.CoreV1Api(kube_api).delete_persistent_volume(volume)
    except client.ApiException as error:
        if error.status != 404:
            raise


def saved(host: Path, study: str, trial: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((host / study / trial / STATE).read_text())
    return state


def test_a_missing_claim_holds_the_study_until_it_exists_then_trials_save_on_the_volume(
    operator,
    custom: client.CustomObjectsApi,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    host_volume: Path,
) -> None:
    operator()
    mount = tmp_path / "mnt" / "checkpoints"
    create_study(custom, namespace, checkpointed_study("held", mount, max_trials=2, parallel=2))

    held = until(
        lambda: get_study(custom, namespace, "held"),
        lambda s: (condition(s, "Running") or {}).get("reason") == "CheckpointClaimMissing",
        "the study to say its claim is missing",
        timeout=60,
    )
    message = condition(held, "Running")["message"]
    assert message.startswith(
        "spec.trialTemplate.checkpoints.persistentVolumeClaim.claimName: PersistentVolumeClaim "
        f"'{CLAIM}' does not exist in namespace '{namespace}'; create it"
    ), message
    assert held["status"]["phase"] == "Pending"
    assert list_trials(custom, namespace, "held") == [], "no trial is launched to get stuck"

    create_volume(kube_api, namespace, host_volume)
    study = wait_for_phase(custom, namespace, "held", timeout=120)

    assert study["status"]["trials"]["succeeded"] == 2, dump(study["status"])
    for index in range(2):
        name = trial_name("held", index)
        state = saved(host_volume, "held", name)
        assert state["saved_to"] == f"{mount}/held/{name}"  # the in-pod path, on the volume
        assert (state["trial"], state["restored_from"], state["parent"]) == (name, None, None)


def create_trial(
    custom: client.CustomObjectsApi, namespace: str, study: str, index: int, **attributes: Any
) -> None:
    """A Trial made by hand, as an algorithm would: the operator gives it its Job."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trial",
        "metadata": {
            "name": trial_name(study, index),
            "labels": {STUDY_LABEL: study, "kubetune.dev/trial-index": str(index)},
        },
        "spec": {
            "study": study,
            "index": index,
            "parameters": {"x": 0.5 + index},
            "attributes": attributes,
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "trials", body)


def wait_for_trial(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    trial: dict[str, Any] = until(
        lambda: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "trials", name),
        lambda t: (t.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
        f"trial {name} to finish",
        timeout=90,
    )
    return trial


def test_a_trial_restores_the_checkpoint_another_trial_pod_saved(
    operator,
    custom: client.CustomObjectsApi,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    host_volume: Path,
) -> None:
    """The hand-off without an algorithm: the study is suspended so the engine launches
    nothing, and Trials naming ``checkpoint.restoreFrom`` are created as PBT would."""
    create_volume(kube_api, namespace, host_volume)
    mount = tmp_path / "mnt" / "checkpoints"
    manifest = checkpointed_study("handoff", mount, max_trials=4, parallel=2)
    manifest["spec"]["suspend"] = True
    operator()
    create_study(custom, namespace, manifest)

    first, second = trial_name("handoff", 0), trial_name("handoff", 1)
    create_trial(custom, namespace, "handoff", 0)
    assert wait_for_trial(custom, namespace, first)["status"]["phase"] == "Succeeded"
    create_trial(custom, namespace, "handoff", 1, **{RESTORE_ATTRIBUTE: first})
    trial = wait_for_trial(custom, namespace, second)

    assert trial["status"]["phase"] == "Succeeded", dump(trial)
    state = saved(host_volume, "handoff", second)
    assert state["restored_from"] == f"{mount}/handoff/{first}"
    assert state["parent"] == saved(host_volume, "handoff", first)
    assert state["step"] == 2, "it went on from the parent's step"


PBT = {"name": "pbt", "settings": {"populationSize": 2, "perturbationInterval": 1, "quantile": 0.5}}


@pytest.mark.skipif(
    "pbt" not in REGISTRY,
    reason="the pbt algorithm is built on a parallel branch; this test runs once it is merged",
)
def test_pbt_hands_checkpoints_between_trial_pods(
    operator,
    custom: client.CustomObjectsApi,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    host_volume: Path,
) -> None:
    create_volume(kube_api, namespace, host_volume)
    mount = tmp_path / "mnt" / "checkpoints"
    manifest = checkpointed_study("pbt", mount, max_trials=6, parallel=2)
    manifest["spec"]["algorithm"] = PBT
    manifest["spec"]["budget"]["resource"] = {"name": "steps", "min": 1, "max": 3}
    operator()
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "pbt", timeout=240)

    assert study["status"]["trials"]["succeeded"] == 6, dump(study["status"])
    trials = list_trials(custom, namespace, "pbt")
    restoring = [t for t in trials if (t["spec"].get("attributes") or {}).get(RESTORE_ATTRIBUTE)]
    assert restoring, "later segments restore a checkpoint: " + dump([t["spec"] for t in trials])
    for trial in restoring:
        name, parent = trial["metadata"]["name"], trial["spec"]["attributes"][RESTORE_ATTRIBUTE]
        state = saved(host_volume, "pbt", name)
        assert state["restored_from"] == f"{mount}/pbt/{parent}", state
        assert state["parent"] == saved(host_volume, "pbt", parent), (name, parent)
        assert state["step"] == int(trial["spec"]["budget"]), "it ends at its cumulative step"


SYNCHRONOUS_PBT = {
    "name": "pbt",
    "settings": {
        "populationSize": 2,
        "perturbationInterval": 1,
        "quantile": 0.5,
        "synchronous": True,
    },
}


@pytest.mark.skipif("pbt" not in REGISTRY, reason="needs the pbt algorithm")
def test_pbt_lineage_survives_operator_kills_and_matches_a_local_run(
    operator,
    custom: client.CustomObjectsApi,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    host_volume: Path,
) -> None:
    """Synchronous PBT decides from values alone, never from timing, so the lineage of a
    study is a function of its seed and its trials' values: the same on a laptop and on a
    cluster whose operator is SIGKILLed after each bit of progress."""
    create_volume(kube_api, namespace, host_volume)
    manifest = checkpointed_study("lineage", tmp_path / "mnt" / "checkpoints", max_trials=8)
    manifest["spec"]["algorithm"] = SYNCHRONOUS_PBT
    manifest["spec"]["budget"] = {
        "maxTrials": 8,
        "parallelTrials": 2,
        "resource": {"name": "steps", "min": 1, "max": 4},
    }
    local = _local_lineage(manifest, tmp_path / "local")

    handle = operator(leader_election=False)
    create_study(custom, namespace, manifest)
    kills = 0
    while (get_study(custom, namespace, "lineage").get("status") or {}).get("phase") not in (
        "Succeeded",
        "Failed",
    ):
        done = _finished(custom, namespace)
        until(
            lambda: (_finished(custom, namespace), _phase(custom, namespace)),
            lambda now, done=done: now[0] > done or now[1] in ("Succeeded", "Failed"),
            "a segment to finish",
            timeout=120,
        )
        handle.kill()
        kills += 1
        handle.start()
    assert kills >= 3, "the study outlived several operator processes"
    study = wait_for_phase(custom, namespace, "lineage", timeout=60)
    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    cluster = {
        t["spec"]["index"]: (t["spec"]["parameters"], t["spec"].get("attributes") or {})
        for t in list_trials(custom, namespace, "lineage")
    }
    assert cluster == local


def _local_lineage(manifest: dict[str, Any], state: Path) -> dict[int, Any]:
    """The same study under ``kubetune run``: index -> (parameters, attributes)."""
    from kubetune.local.backend import LocalOptions, LocalStudy
    from kubetune.validation import parse_study

    study = LocalStudy(parse_study(manifest), LocalOptions(state_dir=state, workdir=state))
    study.open()
    study.run(lambda view: None)
    return {t.index: (dict(t.params), dict(t.attributes)) for t in study.store.load_trials()}


def _finished(custom: client.CustomObjectsApi, namespace: str) -> int:
    return sum(
        1
        for t in list_trials(custom, namespace, "lineage")
        if (t.get("status") or {}).get("phase") not in (None, "Pending", "Running")
    )


def _phase(custom: client.CustomObjectsApi, namespace: str) -> str:
    return str((get_study(custom, namespace, "lineage").get("status") or {}).get("phase"))
