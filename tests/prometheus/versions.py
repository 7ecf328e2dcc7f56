"""The one place that pins what the test Prometheus is built from.

Bumping Prometheus means editing this file, running `python -m tests.prometheus gomod` to
regenerate the pinned Go module, and committing both. The cache directory is keyed by the
version, so a bump never reuses a stale binary.
"""

from __future__ import annotations

import os
from pathlib import Path

PROMETHEUS_VERSION = "v0.315.1"
"""Release of the github.com/prometheus/prometheus Go module: Prometheus 3.15.1.

Prometheus 3.x is published as `v0.3XX.Y` module versions (`go list -m -versions
github.com/prometheus/prometheus`). v0.316.0 exists but declares `go 1.26.7`; 3.15.1
declares `go 1.26.0`, the same minimum as the test control plane, so one installed Go
builds both with `GOTOOLCHAIN=local`.
"""

GO_VERSION = "1.26.0"
"""`go` directive of the generated module: the minimum the Prometheus module declares."""

BUILD_TAGS = ("remove_all_sd",)
"""Leave out every service-discovery plugin except file and HTTP: the tests scrape a
`static_configs` target, and the cloud SDKs (AWS, Azure, GCE, Kubernetes...) would triple
the build. Without the `builtinassets` tag the web UI is not embedded either (the tests use
only the HTTP API, which works without it)."""


def cache_dir() -> Path:
    """Where the built binary lives: `~/.cache/kubetune-prometheus/<version>/bin`."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kubetune-prometheus" / PROMETHEUS_VERSION
