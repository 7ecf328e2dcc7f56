"""In a pod without a kubeconfig (the chart's dashboard), the reader uses the pod's account."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from kubetune.kube import reader
from kubetune.record import RecordUnavailable


def test_without_a_kubeconfig_in_a_pod_the_service_account_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv(reader.IN_CLUSTER_VARIABLE, "10.0.0.1")
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("ml\n")
    monkeypatch.setattr(reader, "IN_CLUSTER_NAMESPACE_FILE", namespace_file)

    def load(client_configuration: kubernetes.client.Configuration) -> None:
        client_configuration.host = "https://10.0.0.1:443"

    monkeypatch.setattr(kubernetes.config, "load_incluster_config", load)
    configuration, namespace = reader._configuration(None)
    assert (configuration.host, namespace) == ("https://10.0.0.1:443", "ml")


def test_a_pod_without_its_token_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv(reader.IN_CLUSTER_VARIABLE, "10.0.0.1")

    def load(client_configuration: kubernetes.client.Configuration) -> None:
        raise kubernetes.config.ConfigException("Service token file does not exist.")

    monkeypatch.setattr(kubernetes.config, "load_incluster_config", load)
    with pytest.raises(RecordUnavailable, match="cannot use the pod's ServiceAccount: Service"):
        reader.list_cluster_studies()


def test_outside_a_pod_a_missing_kubeconfig_is_still_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv(reader.IN_CLUSTER_VARIABLE, raising=False)
    with pytest.raises(RecordUnavailable, match="no kubeconfig found"):
        reader.list_cluster_studies()
