"""Build Prometheus from source, once per pin, for the tests that check the dashboard.

CI machines have Go and a module proxy but no prebuilt binaries (and no container runtime),
so, like the test control plane (`tests/cluster/build.py`), the harness compiles what it
runs from the module pinned in `gomodule/`. The binary goes to
`~/.cache/kubetune-prometheus/<version>/bin/prometheus` with a stamp naming the Prometheus
and Go versions; when the stamp matches, a build does nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.cluster.gomod import go_env
from tests.prometheus.gomod import GOMODULE_DIR, PROMETHEUS_MAIN_PACKAGE
from tests.prometheus.versions import BUILD_TAGS, PROMETHEUS_VERSION, cache_dir

BINARY_NAME = "prometheus"
STAMP_NAME = ".stamp.json"
_VERSION_PACKAGE = "github.com/prometheus/common/version"


def bin_dir() -> Path:
    return cache_dir() / "bin"


def binary() -> Path:
    """Path of the built `prometheus` binary."""
    return bin_dir() / BINARY_NAME


def release() -> str:
    """The Prometheus release a module version stands for: v0.315.1 -> 3.15.1."""
    minor_and_patch = PROMETHEUS_VERSION.removeprefix("v0.3")
    minor, patch = minor_and_patch.split(".", 1)
    return f"3.{int(minor)}.{patch}"


def _wanted_stamp() -> dict[str, str]:
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], check=True, capture_output=True, text=True, env=go_env()
    ).stdout.strip()
    return {"prometheus": PROMETHEUS_VERSION, "tags": ",".join(BUILD_TAGS), "go": go_version}


def is_built() -> bool:
    stamp = bin_dir() / STAMP_NAME
    if not stamp.is_file() or not binary().is_file():
        return False
    recorded: dict[str, str] = json.loads(stamp.read_text())
    return recorded == _wanted_stamp()


def _version_ldflags() -> str:
    # Without these `prometheus --version` and /api/v1/status/buildinfo say nothing useful.
    values = {"Version": release(), "Branch": "HEAD", "Revision": PROMETHEUS_VERSION}
    return " ".join(f"-X {_VERSION_PACKAGE}.{key}={value}" for key, value in values.items())


def build(force: bool = False) -> float:
    """Build the binary unless the cache already holds this version pin.

    Returns the seconds spent (near zero when nothing had to be built). The caller's
    GOFLAGS are honoured, e.g. `GOFLAGS="-buildvcs=false -p 1"` on a busy machine.
    """
    started = time.monotonic()
    if is_built() and not force:
        print(f"prometheus {release()} up to date in {bin_dir()}")
        return time.monotonic() - started
    output = bin_dir()
    output.mkdir(parents=True, exist_ok=True)
    (output / STAMP_NAME).unlink(missing_ok=True)
    command = [
        "go",
        "build",
        "-trimpath",
        f"-tags={','.join(BUILD_TAGS)}",
        f"-ldflags=-s -w {_version_ldflags()}",
        "-o",
        str(binary()),
        PROMETHEUS_MAIN_PACKAGE,
    ]
    env = go_env() | {"CGO_ENABLED": "0"}
    subprocess.run(command, cwd=GOMODULE_DIR, check=True, env=env)
    (output / STAMP_NAME).write_text(json.dumps(_wanted_stamp(), indent=2) + "\n")
    elapsed = time.monotonic() - started
    print(f"built prometheus {release()} into {output} in {elapsed:.0f}s")
    return elapsed
