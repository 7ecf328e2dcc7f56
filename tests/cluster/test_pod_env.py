"""Unit tests of how the node agent builds a container's environment (no cluster needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.cluster import pod_env

POD = {
    "metadata": {
        "name": "trial-7",
        "namespace": "studies",
        "uid": "u-1",
        "labels": {"kubetune.dev/study": "resnet"},
    },
    "spec": {"nodeName": "node-0", "serviceAccountName": "runner"},
}


@pytest.mark.parametrize(
    ("field_path", "expected"),
    [
        ("metadata.name", "trial-7"),
        ("metadata.namespace", "studies"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['kubetune.dev/study']", "resnet"),
        ("metadata.labels['missing']", ""),
        ("spec.nodeName", "node-0"),
        ("spec.serviceAccountName", "runner"),
        ("status.podIP", "127.0.0.1"),
    ],
)
def test_downward_api_fields(field_path: str, expected: str) -> None:
    assert pod_env.field_value(POD, field_path) == expected


def test_unknown_field_is_unsupported_not_a_crash() -> None:
    with pytest.raises(pod_env.UnsupportedPod):
        pod_env.field_value(POD, "spec.hostname")


def test_references_expand_in_order_and_dollar_escapes() -> None:
    container = {
        "name": "main",
        "env": [
            {"name": "TRIAL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "OUT", "value": "/out/$(TRIAL)/$$(TRIAL)/$(UNKNOWN)"},
        ],
        "command": ["echo", "$(OUT)"],
    }
    env = pod_env.container_environment(POD, container, {}, lambda kind, name: None)
    assert env["OUT"] == "/out/trial-7/$(TRIAL)/$(UNKNOWN)"
    assert pod_env.command_line(container, env) == ["echo", "/out/trial-7/$(TRIAL)/$(UNKNOWN)"]


def test_config_map_values_and_missing_required_reference() -> None:
    data = {"cm": {"lr": "0.1"}}
    container = {
        "name": "main",
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
        "env": [{"name": "LR", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "lr"}}}],
    }
    env = pod_env.container_environment(POD, container, {}, lambda kind, name: data.get(name))
    assert (env["P_lr"], env["LR"]) == ("0.1", "0.1")
    with pytest.raises(pod_env.UnsupportedPod):
        pod_env.container_environment(POD, container, {}, lambda kind, name: None)


def test_base_environment_points_at_the_api_and_keeps_the_python_on_path() -> None:
    env = pod_env.base_environment(POD, "127.0.0.1", 6443)
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert "KUBECONFIG" not in env
