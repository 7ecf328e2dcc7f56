"""The chart's rendered manifests against the real API server: kubeconform, then a dry-run.

kubeconform (pinned, built from its Go module) validates strictly against JSON schemas made
from this control plane's OpenAPI v3 (`tests/tools/kubeconform.py`); CRDs are checked as
CustomResourceDefinition objects. ServiceMonitor is skipped by kubeconform and left out of
the dry-run: its CRD belongs to the Prometheus operator, which the test cluster does not
run (tests/unit/helm checks its shape). `kubectl apply --dry-run=server` then runs every
object through admission, including Pod Security admission at `restricted` for the
operator's namespace (a violation would print a "would violate PodSecurity" warning).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.cluster import build
from tests.cluster.fixtures import TestCluster
from tests.tools import kubeconform
from tests.tools.chart import VALUE_SETS, documents, template

pytestmark = pytest.mark.integration

NOT_IN_TEST_CLUSTER = "ServiceMonitor"
EXTRA_NAMESPACES = ("team-a", "team-b", "monitoring")
"""Namespaces all-options-values.yaml names (watched namespaces, the dashboard's)."""


@pytest.fixture(scope="module")
def schemas(cluster: TestCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schemas")
    kinds = {
        (doc["apiVersion"], doc["kind"])
        for values in VALUE_SETS.values()
        for doc in documents(template(values, include_crds=True))
        if doc["kind"] != NOT_IN_TEST_CLUSTER
    }
    kubeconform.write_schemas(kubectl(cluster), root, kinds)
    return root


def kubectl(cluster: TestCluster) -> list[str]:
    return [str(build.binary("kubectl")), f"--kubeconfig={cluster.kubeconfig}"]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_kubeconform_strict(values: tuple[str, ...], schemas: Path, tmp_path: Path) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(template(values, include_crds=True))
    result = subprocess.run(
        [
            str(kubeconform.kubeconform_binary()),
            "-strict",
            "-summary",
            "-skip",
            NOT_IN_TEST_CLUSTER,
            "-schema-location",
            f"{schemas}/{kubeconform.SCHEMA_TEMPLATE}",
            str(rendered),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0" in result.stdout


def test_kubeconform_catches_a_wrong_field(schemas: Path, tmp_path: Path) -> None:
    """The schemas are strict: a misspelt field is an error, not silently accepted."""
    text = template(show_only="templates/deployment.yaml").replace(
        "readOnlyRootFilesystem:", "readOnlyRootFileSystem:"
    )
    rendered = tmp_path / "broken.yaml"
    rendered.write_text(text)
    result = subprocess.run(
        [
            str(kubeconform.kubeconform_binary()),
            "-strict",
            "-schema-location",
            f"{schemas}/{kubeconform.SCHEMA_TEMPLATE}",
            str(rendered),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "readOnlyRootFileSystem" in result.stdout


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_server_dry_run_accepts_every_object(
    values: tuple[str, ...],
    cluster: TestCluster,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    core = client.CoreV1Api(kube_api)
    levels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    core.patch_namespace(namespace, {"metadata": {"labels": levels}})
    for extra in EXTRA_NAMESPACES:
        try:
            core.create_namespace({"metadata": {"name": extra}})
        except client.ApiException as error:
            if error.status != 409:
                raise
    text = template(values, namespace=namespace, include_crds=True)
    kept = [doc for doc in documents(text) if doc["kind"] != NOT_IN_TEST_CLUSTER]
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text("\n---\n".join(_dump(doc) for doc in kept))
    result = subprocess.run(
        [*kubectl(cluster), "apply", "--dry-run=server", "-f", str(rendered)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr, result.stderr
    assert result.stdout.count("(server dry run)") == len(kept)


def _dump(doc: dict[str, object]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)
