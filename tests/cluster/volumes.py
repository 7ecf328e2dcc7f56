"""Pod volumes on a node whose containers are plain processes sharing one filesystem.

A kubelet gives each container a private mount namespace; the node agent's processes share
the machine's. So a volume is a real directory on this machine, and each `volumeMount`'s
`mountPath` is made to lead there with a symbolic link: the container reads and writes
the path its pod spec names, as it would in a cluster. Supported volumes:

- `emptyDir`: a directory of its own under the pod's directory, gone with the pod's files;
- `hostPath`: that path (created for type `""`, `DirectoryOrCreate`);
- a `projected` volume is taken for the service-account token, which the agent provides
  its own way (`pod_env`), so its mount is left out;
- `persistentVolumeClaim`: the claim's bound PersistentVolume, which must be a `hostPath`
  or `local` volume (there is no provisioner: a test creates the PV, the controller-manager
  binds it). A claim that does not exist or is not bound yet keeps the pod waiting in
  `ContainerCreating`, as a kubelet does, and is looked up again on the next pass.

Limitations, since there is one filesystem: a `mountPath` must be creatable by the agent
(its parent writable; `/kubetune/...` needs root, a path under a temp dir does not), a path
that exists and is not a link is never replaced (an `emptyDir` over an existing directory,
such as the chart's `/tmp` for a read-only root, is left to that directory), and two live
pods may mount the same path only to the same directory (a shared claim) — a clash fails
the second pod with a message saying so. `readOnly` is not enforced. A mount is released
when its pod finishes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster.pod_env import UnsupportedPod

CREATING_HOST_PATH_TYPES = ("", "DirectoryOrCreate")
"""hostPath types whose directory the agent creates when it is missing."""


class VolumesNotReady(Exception):
    """A volume cannot be set up yet (its claim is missing or unbound); try again later."""


ObjectReader = Callable[[str], Mapping[str, Any] | None]
"""GETs an API path; None when the object does not exist."""


def host_directories(pod: Mapping[str, Any], pod_dir: Path, read: ObjectReader) -> dict[str, Path]:
    """The real directory of each volume of `pod`, by volume name (created where due)."""
    namespace = pod["metadata"]["namespace"]
    directories = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        if "emptyDir" in volume:
            directory = pod_dir / "volumes" / name
            directory.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            directory = _host_path(volume["hostPath"])
        elif "persistentVolumeClaim" in volume:
            directory = _claimed(namespace, volume["persistentVolumeClaim"]["claimName"], read)
        else:
            continue  # not mounted by any container the agent runs, or refused in mounts()
        directories[name] = directory
    return directories


def _host_path(source: Mapping[str, Any]) -> Path:
    directory = Path(source["path"])
    kind = source.get("type", "")
    if not directory.exists():
        if kind not in CREATING_HOST_PATH_TYPES:
            raise VolumesNotReady(f"hostPath {directory} does not exist (type {kind})")
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def _claimed(namespace: str, claim_name: str, read: ObjectReader) -> Path:
    claim = read(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim_name}")
    if claim is None:
        raise VolumesNotReady(f'persistentvolumeclaim "{claim_name}" not found')
    volume_name = (claim.get("spec") or {}).get("volumeName")
    if (claim.get("status") or {}).get("phase") != "Bound" or not volume_name:
        raise VolumesNotReady(f'persistentvolumeclaim "{claim_name}" is not bound yet')
    volume = read(f"/api/v1/persistentvolumes/{volume_name}")
    if volume is None:
        raise VolumesNotReady(f'persistentvolume "{volume_name}" not found')
    spec = volume.get("spec") or {}
    source = spec.get("hostPath") or spec.get("local")
    if not source:
        raise UnsupportedPod(
            f"persistentvolume {volume_name!r} (claim {claim_name!r}) is neither hostPath nor "
            "local; the node agent can only mount directories of this machine"
        )
    return _host_path({"path": source["path"], "type": source.get("type", "")})


def mounts(pod: Mapping[str, Any], directories: Mapping[str, Path]) -> dict[Path, Path]:
    """mountPath -> real directory for every volumeMount of the pod's containers."""
    # The service-account token volume (admission adds it as a projected volume): the agent
    # writes a token bound to the pod into the pod's directory (pod_env) instead.
    provided = {v["name"] for v in pod["spec"].get("volumes") or [] if "projected" in v}
    scratch = {v["name"] for v in pod["spec"].get("volumes") or [] if "emptyDir" in v}
    result: dict[Path, Path] = {}
    for container in pod["spec"].get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            name = mount["name"]
            if name in provided:
                continue
            if name not in directories:
                raise UnsupportedPod(
                    f"volume {name!r} of container {container['name']!r} is not an emptyDir, "
                    "hostPath or persistentVolumeClaim; the node agent mounts only those"
                )
            path = Path(mount["mountPath"])
            if name in scratch and path.is_dir() and not path.is_symlink():
                # Scratch space over a directory the machine has (the operator's chart
                # mounts one at /tmp for its read-only root): the process uses the real one.
                continue
            target = directories[name] / mount.get("subPath", "")
            target.mkdir(parents=True, exist_ok=True)
            if result.get(path, target) != target:
                raise UnsupportedPod(f"two volumes are mounted at {path}")
            result[path] = target
    return result


@dataclass
class MountTable:
    """The mount links of one agent process, shared by its pods: a link is made when the
    first pod needs it and removed when the last one holding it finishes."""

    _held: dict[Path, tuple[Path, set[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, uid: str, wanted: Mapping[Path, Path]) -> None:
        """Make each mountPath lead to its directory for pod `uid`, or refuse the pod."""
        with self._lock:
            for path, target in wanted.items():
                held = self._held.get(path)
                if held is not None and held[0] != target and held[1] - {uid}:
                    raise UnsupportedPod(
                        f"mountPath {path} is mounted by another running pod to {held[0]}; "
                        "the node agent's pods share one filesystem, so give each volume "
                        "its own mountPath"
                    )
            for path, target in wanted.items():
                _link(path, target)
                holders = self._held.get(path, (target, set()))[1]
                self._held[path] = (target, holders | {uid})

    def release(self, uid: str) -> None:
        """Pod `uid` finished: remove the links no other pod holds."""
        with self._lock:
            for path, (target, holders) in list(self._held.items()):
                if uid not in holders:
                    continue
                holders.discard(uid)
                if not holders:
                    del self._held[path]
                    if path.is_symlink() and Path(os.readlink(path)) == target:
                        path.unlink()


def _link(path: Path, target: Path) -> None:
    """Make `path` a symbolic link to `target` (the same path needs no link)."""
    if path == target or (path.is_dir() and not path.is_symlink() and path.samefile(target)):
        return
    if path.is_symlink():
        path.unlink()  # a stale link, left by an earlier pod or a killed agent
    elif path.exists():
        raise UnsupportedPod(
            f"mountPath {path} exists on this machine and is not a mount link; the node "
            "agent never replaces real files: choose another mountPath"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target, target_is_directory=True)
    except OSError as error:
        raise UnsupportedPod(
            f"cannot make mountPath {path} lead to {target}: {error}; the node agent needs "
            "to create it (use a mountPath under a writable directory)"
        ) from error


MOUNTS = MountTable()
"""The agent process's table: every node it runs shares this machine's filesystem."""
