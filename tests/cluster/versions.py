"""The one place that pins what the test control plane is built from.

Bumping Kubernetes or etcd means editing this file, running
`python -m tests.cluster gomod` to regenerate the pinned Go modules, and committing both.
The cache directory is keyed by these versions, so a bump never reuses stale binaries.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES_VERSION = "v1.37.1"
"""Release of the k8s.io/kubernetes Go module the control plane and kubectl come from."""

ETCD_VERSION = "v3.6.16"
"""Release of go.etcd.io/etcd/server/v3; Kubernetes 1.37 supports etcd 3.6."""

HELM_VERSION = "v4.3.1"
"""Release of helm.sh/helm/v4, for e2e tests that `helm install` the chart; it uses the
same client-go minor as the control plane."""

GO_VERSION = "1.26.0"
"""`go` directive of the generated modules: the minimum both upstream modules declare."""


def staging_version(kubernetes_version: str = KUBERNETES_VERSION) -> str:
    """The k8s.io/* staging module release matching a Kubernetes release (v1.X.Y -> v0.X.Y)."""
    return "v0." + kubernetes_version.removeprefix("v1.")


def cache_dir() -> Path:
    """Where built binaries live: `~/.cache/kubetune-cluster/<versions>/bin`."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    pins = f"kubernetes-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-helm-{HELM_VERSION}"
    return base / "kubetune-cluster" / pins
