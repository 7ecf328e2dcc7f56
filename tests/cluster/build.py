"""Build etcd, the Kubernetes control plane, kubectl and helm from source, once per pin.

CI machines have Go and a module proxy but no container runtime and no prebuilt binaries,
so the harness compiles what it runs from the modules pinned in `gomodule/`. Binaries go
to `~/.cache/kubetune-cluster/<versions>/bin` with a stamp naming the versions; when the
stamp matches and every binary is present, a build does nothing. Go's module and build
caches stay at their defaults, so even a rebuild after a cache wipe is mostly incremental.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.cluster.gomod import (
    ETCD_MAIN_PACKAGE,
    ETCD_MODULE_DIR,
    HELM_MAIN_PACKAGE,
    HELM_MODULE,
    HELM_MODULE_DIR,
    KUBERNETES_COMMANDS,
    KUBERNETES_MODULE_DIR,
    go_env,
)
from tests.cluster.versions import ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, cache_dir

BINARIES = ("etcd", *KUBERNETES_COMMANDS, "helm")
STAMP_NAME = ".stamp.json"


def bin_dir() -> Path:
    return cache_dir() / "bin"


def binary(name: str) -> Path:
    """Path of one built binary, e.g. `binary("kubectl")`."""
    return bin_dir() / name


def _wanted_stamp() -> dict[str, str]:
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], check=True, capture_output=True, text=True, env=go_env()
    ).stdout.strip()
    return {
        "kubernetes": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "helm": HELM_VERSION,
        "go": go_version,
    }


def is_built() -> bool:
    stamp = bin_dir() / STAMP_NAME
    if not stamp.is_file() or not all(binary(name).is_file() for name in BINARIES):
        return False
    recorded: dict[str, str] = json.loads(stamp.read_text())
    return recorded == _wanted_stamp()


def _version_ldflags() -> str:
    # Without these the binaries report v0.0.0-master, which breaks clients that compare
    # server versions (helm's kubeVersion constraints, kubectl's skew warning).
    major, minor, _patch = KUBERNETES_VERSION.removeprefix("v").split(".")
    values = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
    }
    packages = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    return " ".join(f"-X {pkg}.{key}={value}" for pkg in packages for key, value in values.items())


def _go_build(module_dir: Path, output: Path, packages: list[str], ldflags: str) -> None:
    env = go_env() | {"CGO_ENABLED": "0"}
    command = ["go", "build", "-trimpath", f"-ldflags=-s -w {ldflags}".strip(), "-o", str(output)]
    subprocess.run([*command, *packages], cwd=module_dir, check=True, env=env)


def build(force: bool = False) -> float:
    """Build every binary unless the cache already holds this version pin.

    Returns the seconds spent (near zero when nothing had to be built).
    """
    started = time.monotonic()
    if is_built() and not force:
        print(f"cluster binaries up to date in {bin_dir()}")
        return time.monotonic() - started
    output = bin_dir()
    output.mkdir(parents=True, exist_ok=True)
    (output / STAMP_NAME).unlink(missing_ok=True)
    _go_build(
        KUBERNETES_MODULE_DIR,
        output,
        [f"k8s.io/kubernetes/cmd/{command}" for command in KUBERNETES_COMMANDS],
        _version_ldflags(),
    )
    _go_build(ETCD_MODULE_DIR, output / "etcd", [ETCD_MAIN_PACKAGE], "")
    helm_version = f"-X {HELM_MODULE}/internal/version.version={HELM_VERSION}"
    _go_build(HELM_MODULE_DIR, output / "helm", [HELM_MAIN_PACKAGE], helm_version)
    (output / STAMP_NAME).write_text(json.dumps(_wanted_stamp(), indent=2) + "\n")
    elapsed = time.monotonic() - started
    print(f"built {', '.join(BINARIES)} into {output} in {elapsed:.0f}s")
    return elapsed
