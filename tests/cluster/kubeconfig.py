"""Kubeconfig files for the test cluster's users: admin, controllers, scheduler, nodes.

Each component authenticates with its own client certificate, exactly as in a real
cluster, so RBAC and the Node authorizer see the identities they expect. The files are
JSON (a subset of YAML) and point at certificate files in `<state>/pki` by absolute path.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster.certs import CertPaths

CLUSTER_NAME = "kubetune-test"


def write_kubeconfig(path: Path, server: str, ca_cert: Path, client: CertPaths, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority": str(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(client.cert),
                    "client-key": str(client.key),
                },
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def server_of(path: Path) -> str:
    """The API server URL a kubeconfig written by `write_kubeconfig` points at."""
    return str(json.loads(path.read_text())["clusters"][0]["cluster"]["server"])


def ca_of(path: Path) -> Path:
    """The CA certificate a kubeconfig written by `write_kubeconfig` trusts."""
    return Path(json.loads(path.read_text())["clusters"][0]["cluster"]["certificate-authority"])
