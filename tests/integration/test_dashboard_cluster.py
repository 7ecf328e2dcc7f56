"""`kubetune dashboard --cluster` against a real API server: its JSON endpoints and its errors.

As in test_results_cluster.py, no operator runs: TuningStudies and Trials with their statuses
are written straight through the API, so what the dashboard must answer is known exactly.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, utils

from kubetune import cli
from kubetune.dashboard.server import ClusterSource, make_server
from tests.cluster.fixtures import TestCluster
from tests.integration.operator_fixtures import GROUP, VERSION
from tests.integration.test_results_cluster import add_trial, finished, manifest
from tests.tools.chart import documents, template

pytestmark = pytest.mark.integration

ATTACK = "<script>alert(1)</script>"


def get(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(), error.code
    return status, json.loads(body) if path.startswith("/api/") else body


def serve(source: ClusterSource) -> Iterator[str]:
    server = make_server(source, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def studies(crds: None, custom: client.CustomObjectsApi, namespace: str) -> None:
    """`front` (running, four trials, one failed with a message) and `idle` (no status yet)."""
    front = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningstudies", manifest("front")
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningstudies", manifest("idle")
    )
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "tuningstudies",
        "front",
        {"status": {"phase": "Running", "trials": {"total": 4, "succeeded": 3, "failed": 1}}},
    )
    add_trial(custom, namespace, front, 0, {}, finished(1.0, 3.0, 10))
    add_trial(custom, namespace, front, 1, {}, finished(2.0, 1.0, 20))
    add_trial(custom, namespace, front, 2, {}, finished(3.0, 3.0, 5))
    add_trial(custom, namespace, front, 3, {}, {"phase": "Failed", "message": ATTACK})


@pytest.fixture
def base(studies: None, cluster: TestCluster, namespace: str) -> Iterator[str]:
    yield from serve(ClusterSource(namespace, cluster.kubeconfig))


def test_lists_the_namespace_studies_from_their_status(base: str) -> None:
    status, body = get(base, "/api/studies")
    assert status == 200
    listed = {s["name"]: s for s in body["studies"]}
    assert set(listed) == {"front", "idle"}
    assert (listed["front"]["phase"], listed["front"]["finished"]) == ("Running", 4)
    assert (listed["idle"]["phase"], listed["idle"]["total"]) == ("Pending", 0)


def test_the_trial_table_sorts_filters_and_shows_one_trial(base: str) -> None:
    status, table = get(base, "/api/studies/front/trials?sort=value:b&desc=1")
    assert status == 200 and [r["index"] for r in table["rows"]] == [0, 2, 1, 3]
    _, failed = get(base, "/api/studies/front/trials?phase=Failed")
    assert [r["message"] for r in failed["rows"]] == [ATTACK]
    _, study = get(base, "/api/studies/front")
    assert study["pareto"] == [0, 1] and study["counts"] == {"Succeeded": 3, "Failed": 1}
    _, trial = get(base, "/api/studies/front/trials/1")
    assert trial["values"]["b"] == 1.0 and trial["gpuSeconds"] == 20.0
    status, page = get(base, "/studies/front/trials/3")
    assert status == 200 and ATTACK not in page and "&lt;script&gt;" in page


def test_a_missing_study_names_the_ones_there(base: str, namespace: str) -> None:
    status, body = get(base, "/api/studies/frnot")
    assert status == 404
    assert body["error"].startswith(f"no TuningStudy 'frnot' in namespace '{namespace}'")
    assert "front, idle" in body["error"]


@pytest.mark.parametrize("command", ["report", "importance"])
def test_report_and_importance_name_a_missing_study_and_the_ones_there(
    studies: None, cluster: TestCluster, namespace: str, command: str, capsys: Any, tmp_path: Path
) -> None:
    where = ["--cluster", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    assert cli.main([command, "frnot", *where, *extra]) == 1
    err = capsys.readouterr().err
    assert f"no TuningStudy 'frnot' in namespace '{namespace}'" in err and "front, idle" in err
    assert "Traceback" not in err


def unreachable(cluster: TestCluster, tmp_path: Path) -> Path:
    """A kubeconfig like the test cluster's whose server is a closed port."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    return kubeconfig


def test_an_unreachable_cluster_is_a_message(
    crds: None, cluster: TestCluster, namespace: str, tmp_path: Path, capsys: Any
) -> None:
    kubeconfig = unreachable(cluster, tmp_path)
    for url in serve(ClusterSource(namespace, kubeconfig)):
        status, page = get(url, "/")
        assert status == 404 and "cannot reach the cluster at https://127.0.0.1:1" in page
        assert "Traceback" not in page
    for command in ("report", "importance"):
        where = ["--cluster", "-n", namespace, "--kubeconfig", str(kubeconfig)]
        assert cli.main([command, "front", *where]) == 1
        err = capsys.readouterr().err
        assert "cannot reach the cluster at https://127.0.0.1:1" in err, command


def chart_dashboard_objects(namespace: str) -> list[dict[str, Any]]:
    """The chart's web dashboard ServiceAccount, Role and RoleBinding, in ``namespace``."""
    rendered = template(
        sets=["webDashboard.enabled=true"],
        namespace=namespace,
        show_only="templates/web-dashboard.yaml",
    )
    return [d for d in documents(rendered) if d["kind"] in RBAC_KINDS]


RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding")


def token_kubeconfig(cluster: TestCluster, token: str, path: Path) -> Path:
    """The admin kubeconfig with its user replaced by a ServiceAccount token."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "dashboard", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "dashboard"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_charts_read_only_role_is_enough_and_writes_nothing(
    studies: None,
    cluster: TestCluster,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    for body in chart_dashboard_objects(namespace):
        utils.create_from_dict(kube_api, body, namespace=namespace)
    (account,) = [d for d in chart_dashboard_objects(namespace) if d["kind"] == "ServiceAccount"]
    token = (
        client.CoreV1Api(kube_api)
        .create_namespaced_service_account_token(
            account["metadata"]["name"],
            namespace,
            {"spec": {"audiences": [], "expirationSeconds": 600}},
        )
        .status.token
    )
    kubeconfig = token_kubeconfig(cluster, token, tmp_path / "kubeconfig")
    for url in serve(ClusterSource(namespace, kubeconfig)):
        assert get(url, "/api/studies")[0] == 200
        status, table = get(url, "/api/studies/front/trials")
        assert status == 200 and table["total"] == 4
    as_dashboard = client.CustomObjectsApi(
        config.new_client_from_config(config_file=str(kubeconfig))
    )
    with pytest.raises(client.ApiException) as refused:
        as_dashboard.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "trials", "front-0", {"metadata": {"labels": {"x": "y"}}}
        )
    assert refused.value.status == 403
    elsewhere = ClusterSource("default", kubeconfig)
    for url in serve(elsewhere):
        status, page = get(url, "/")
        assert status == 404 and "not allowed to list TuningStudies in namespace" in page
