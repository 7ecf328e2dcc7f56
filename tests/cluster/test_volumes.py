"""The node agent's volumes: emptyDir, hostPath and a claim bound to a hostPath volume.

Unit tests of the harness itself (no cluster): a fake API answers the claim and volume
GETs, and pod workers run real processes that write through their mount paths.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.pod_env import UnsupportedPod
from tests.cluster.pods import NodeContext, PodWorker
from tests.cluster.rest import ApiError
from tests.cluster.volumes import (
    MountTable,
    VolumesNotReady,
    host_directories,
    mounts,
)

CLAIM_PATH = "/api/v1/namespaces/ns/persistentvolumeclaims/ckpt"
VOLUME_PATH = "/api/v1/persistentvolumes/pv-1"


def claim(bound: bool) -> dict[str, Any]:
    if not bound:
        return {"spec": {}, "status": {"phase": "Pending"}}
    return {"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}


def pod(uid: str, volume: dict[str, Any], mount_path: Path, program: str = "pass") -> dict:
    return {
        "metadata": {"name": f"p-{uid}", "namespace": "ns", "uid": uid},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "volumes": [{"name": "data", **volume}],
            "containers": [
                {
                    "name": "c",
                    "command": [sys.executable, "-c", program],
                    "volumeMounts": [{"name": "data", "mountPath": str(mount_path)}],
                }
            ],
        },
        "status": {"phase": "Pending"},
    }


class FakeApi:
    """Answers GETs from `objects` (404 otherwise); records status PATCHes."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.landed: list[dict[str, Any]] = []
        self.done = threading.Event()

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        if method == "GET":
            if path not in self.objects:
                raise ApiError(404, "not found")
            return self.objects[path]
        self.landed.append(body["status"])
        if body["status"]["phase"] in ("Succeeded", "Failed"):
            self.done.set()
        return {}


def run(api: FakeApi, tmp_path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    context = NodeContext("node-0", api, tmp_path / "pods", tmp_path / "ca", "127.0.0.1", 1)  # type: ignore[arg-type]
    worker = PodWorker(context, spec)
    worker.start()
    try:
        assert api.done.wait(timeout=60), f"never finished; landed: {api.landed}"
    finally:
        worker.shutdown(0)
    return api.landed[-1]


WRITE = "import os; open(os.path.join({path!r}, 'ckpt.txt'), 'w').write('saved')"


def test_a_pod_writes_through_its_mount_path_into_the_claims_volume(tmp_path: Path) -> None:
    host, mount_path = tmp_path / "pv", tmp_path / "mnt" / "checkpoints"
    api = FakeApi(
        {CLAIM_PATH: claim(True), VOLUME_PATH: {"spec": {"hostPath": {"path": str(host)}}}}
    )
    spec = pod("u1", {"persistentVolumeClaim": {"claimName": "ckpt"}}, mount_path)
    spec["spec"]["containers"][0]["command"][-1] = WRITE.format(path=str(mount_path))

    status = run(api, tmp_path, spec)

    assert status["phase"] == "Succeeded", status
    assert (host / "ckpt.txt").read_text() == "saved"
    assert not mount_path.exists()  # the link goes with the pod that held it


def test_an_empty_dir_is_the_pods_own(tmp_path: Path) -> None:
    mount_path = tmp_path / "scratch"
    spec = pod("u2", {"emptyDir": {}}, mount_path, WRITE.format(path=str(mount_path)))
    status = run(FakeApi({}), tmp_path, spec)
    assert status["phase"] == "Succeeded", status
    written = tmp_path / "pods" / "ns_p-u2_u2" / "volumes" / "data" / "ckpt.txt"
    assert written.read_text() == "saved"


def test_a_host_path_is_created_and_used(tmp_path: Path) -> None:
    host = tmp_path / "host" / "dir"
    directories = host_directories(
        pod("u3", {"hostPath": {"path": str(host), "type": "DirectoryOrCreate"}}, host),
        tmp_path,
        lambda path: None,
    )
    assert directories == {"data": host} and host.is_dir()


def test_a_missing_host_directory_of_type_directory_waits(tmp_path: Path) -> None:
    spec = pod("u4", {"hostPath": {"path": str(tmp_path / "no"), "type": "Directory"}}, tmp_path)
    with pytest.raises(VolumesNotReady, match="does not exist"):
        host_directories(spec, tmp_path, lambda path: None)


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ({}, 'persistentvolumeclaim "ckpt" not found'),
        ({CLAIM_PATH: claim(False)}, 'persistentvolumeclaim "ckpt" is not bound yet'),
    ],
)
def test_a_missing_or_unbound_claim_keeps_the_pod_waiting(
    tmp_path: Path, objects: dict[str, Any], expected: str
) -> None:
    spec = pod("u5", {"persistentVolumeClaim": {"claimName": "ckpt"}}, tmp_path / "m")
    with pytest.raises(VolumesNotReady, match=expected):
        host_directories(spec, tmp_path, objects.get)


def test_a_pod_waiting_for_its_claim_starts_once_the_claim_is_bound(tmp_path: Path) -> None:
    host, mount_path = tmp_path / "pv", tmp_path / "m"
    api = FakeApi({CLAIM_PATH: claim(False)})
    spec = pod("u6", {"persistentVolumeClaim": {"claimName": "ckpt"}}, mount_path)
    spec["spec"]["containers"][0]["command"][-1] = WRITE.format(path=str(mount_path))
    context = NodeContext("node-0", api, tmp_path / "pods", tmp_path / "ca", "127.0.0.1", 1)  # type: ignore[arg-type]
    worker = PodWorker(context, spec)
    worker.start()
    try:
        for _ in range(1200):  # the first status: at most a minute
            if api.landed:
                break
            threading.Event().wait(0.05)
        waiting = api.landed[0]["containerStatuses"][0]["state"]
        assert waiting == {"waiting": {"reason": "ContainerCreating"}}
        api.objects[VOLUME_PATH] = {"spec": {"local": {"path": str(host)}}}
        api.objects[CLAIM_PATH] = claim(True)
        assert api.done.wait(timeout=60), api.landed
    finally:
        worker.shutdown(0)
    assert (host / "ckpt.txt").read_text() == "saved"


def test_a_claim_on_a_volume_of_another_machine_is_refused(tmp_path: Path) -> None:
    objects = {CLAIM_PATH: claim(True), VOLUME_PATH: {"spec": {"nfs": {"path": "/x"}}}}
    spec = pod("u7", {"persistentVolumeClaim": {"claimName": "ckpt"}}, tmp_path / "m")
    with pytest.raises(UnsupportedPod, match="neither hostPath nor local"):
        host_directories(spec, tmp_path, objects.get)


def test_a_mount_of_an_unsupported_volume_is_refused(tmp_path: Path) -> None:
    spec = pod("u8", {"configMap": {"name": "c"}}, tmp_path / "m")
    directories = host_directories(spec, tmp_path, lambda path: None)
    with pytest.raises(UnsupportedPod, match="mounts only those"):
        mounts(spec, directories)


def test_the_service_account_token_volume_is_provided_by_the_agent_not_mounted(
    tmp_path: Path,
) -> None:
    spec = pod("u9", {"emptyDir": {}}, tmp_path / "m")
    spec["spec"]["volumes"].append({"name": "kube-api-access-x", "projected": {"sources": []}})
    token_mount = {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/token"}
    spec["spec"]["containers"][0]["volumeMounts"].append(token_mount)
    directories = host_directories(spec, tmp_path, lambda path: None)
    assert mounts(spec, directories) == {tmp_path / "m": tmp_path / "volumes" / "data"}


def test_pods_share_a_mount_path_only_to_the_same_directory(tmp_path: Path) -> None:
    table, path = MountTable(), tmp_path / "mnt"
    shared, other = tmp_path / "shared", tmp_path / "other"
    shared.mkdir(), other.mkdir()
    table.acquire("a", {path: shared})
    table.acquire("b", {path: shared})
    with pytest.raises(UnsupportedPod, match="mounted by another running pod"):
        table.acquire("c", {path: other})
    table.release("a")
    assert path.resolve() == shared  # b still holds it
    table.release("b")
    assert not path.exists()
    table.acquire("c", {path: other})
    assert path.resolve() == other


def test_a_stale_link_is_replaced_and_a_real_directory_never_is(tmp_path: Path) -> None:
    table, target = MountTable(), tmp_path / "target"
    target.mkdir()
    stale = tmp_path / "stale"
    stale.symlink_to(tmp_path / "gone")
    table.acquire("a", {stale: target})
    assert stale.resolve() == target
    real = tmp_path / "real"
    real.mkdir()
    with pytest.raises(UnsupportedPod, match="never replaces real files"):
        table.acquire("a", {real: target})


def test_scratch_space_over_a_real_directory_is_that_directory(tmp_path: Path) -> None:
    """The chart's operator pod mounts an emptyDir at /tmp (its root is read-only); on one
    shared filesystem the process just uses the machine's /tmp (the helm e2e test runs it)."""
    real = tmp_path / "tmp"
    real.mkdir()
    spec = pod("a", {"emptyDir": {}}, real)
    directories = host_directories(spec, tmp_path / "pod", lambda path: None)
    assert mounts(spec, directories) == {}
    hosted = pod("b", {"hostPath": {"path": str(tmp_path / "host")}}, real)
    with pytest.raises(UnsupportedPod, match="never replaces real files"):
        MountTable().acquire(
            "b", mounts(hosted, host_directories(hosted, tmp_path, lambda path: None))
        )
