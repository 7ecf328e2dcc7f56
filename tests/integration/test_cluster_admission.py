"""The API server enforces CRD schemas and CEL rules at create time, as in production."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import condition_status, until

pytestmark = pytest.mark.integration

GROUP = "cluster-tests.kubetune.dev"
RULE = {"rule": "self.low < self.high", "message": "low must be below high"}

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"ranges.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "ranges", "singular": "range", "kind": "Range"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "low": {"type": "number"},
                                    "high": {"type": "number"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.low < self.high",
                                        "message": "low must be below high",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def range_crd(kube_api: client.ApiClient) -> str:
    extensions = client.ApiextensionsV1Api(kube_api)
    try:
        extensions.create_custom_resource_definition(CRD)
    except client.ApiException as error:
        if error.status != 409:
            raise
    until(
        lambda: extensions.read_custom_resource_definition(CRD["metadata"]["name"]),
        lambda crd: condition_status(crd, "Established") == "True",
        "CRD established",
    )
    return GROUP


def _range(name: str, low: float, high: float) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Range",
        "metadata": {"name": name},
        "spec": {"low": low, "high": high},
    }


def test_cel_rule_rejects_a_bad_object_with_its_message(
    kube_api: client.ApiClient, namespace: str, range_crd: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    with pytest.raises(client.ApiException) as rejected:
        custom.create_namespaced_custom_object(
            range_crd, "v1", namespace, "ranges", _range("upside-down", 2, 1)
        )
    assert rejected.value.status == 422
    assert "low must be below high" in rejected.value.body


def test_cel_rule_admits_a_good_object(
    kube_api: client.ApiClient, namespace: str, range_crd: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    created = custom.create_namespaced_custom_object(
        range_crd, "v1", namespace, "ranges", _range("ordered", 1, 2)
    )
    assert created["spec"] == {"low": 1, "high": 2}
