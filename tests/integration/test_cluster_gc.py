"""The garbage collector deletes dependents when their owner goes."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import deleted

pytestmark = pytest.mark.integration


def test_deleting_an_owner_collects_its_dependents(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "owner"}, "data": {"role": "owner"}}
    )
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    for name in ("dependent-a", "dependent-b"):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "ownerReferences": [reference]}}
        )

    core.delete_namespaced_config_map("owner", namespace)

    for name in ("dependent-a", "dependent-b"):
        deleted(lambda n=name: core.read_namespaced_config_map(n, namespace), f"configmap {name}")
