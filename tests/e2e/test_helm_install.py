"""`helm install` the chart, run examples/branin.yaml through it, `helm uninstall`.

The operator runs as the chart's Deployment: the node agent starts its container's
`command` (`kubetune operator`) from this virtualenv, with the chart's environment, the
pod's bound token and the chart's RBAC. It watches every namespace (the default), so the
study runs in a namespace other than the release's. The study is examples/branin.yaml
with one change a real cluster does not need: `workingDir` is the repository's examples/
folder (on a real cluster the image's working directory holds branin.py). All 48 trials
run (~40 s); the whole test takes ~70 s.

After `helm uninstall` only what the chart deliberately leaves remains: the CRDs (Helm
never deletes them, so studies survive an uninstall), the operator's Lease, and the
kubetune-trial ServiceAccount/Role/RoleBinding the operator made in the study namespace.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.cluster import build
from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import GROUP, VERSION, free_port
from tests.tools.chart import CHART, REPO_ROOT, helm_binary, helm_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RELEASE = "kubetune"


def run(argv: list[str], timeout: float = 180) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=helm_env(), timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def study_namespace(kube_api: client.ApiClient, namespace: str) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"{namespace[:50]}-studies"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def branin_for_the_test_cluster() -> dict[str, Any]:
    study = yaml.safe_load((REPO_ROOT / "examples" / "branin.yaml").read_text())
    (container,) = study["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"]
    container["workingDir"] = str(REPO_ROOT / "examples")
    return study


def test_helm_install_runs_branin_and_uninstalls_cleanly(
    cluster: TestCluster,
    kube_api: client.ApiClient,
    namespace: str,
    study_namespace: str,
    tmp_path: Path,
) -> None:
    helm = [str(helm_binary()), f"--kubeconfig={cluster.kubeconfig}", "--namespace", namespace]
    kubectl = [str(build.binary("kubectl")), f"--kubeconfig={cluster.kubeconfig}"]
    port = free_port()  # pods share the machine's loopback: no fixed 8080
    run(
        [
            *helm,
            "install",
            RELEASE,
            str(CHART),
            "--wait",
            "--timeout=120s",
            # The session's CRDs may already be there, written by the integration tests'
            # client: helm 4 applies crds/ server-side and would stop at that conflict.
            "--force-conflicts",
            f"--set=metrics.port={port}",
            "--set=operator.reconcileIntervalSeconds=2",
            "--set=operator.stopGraceSeconds=2",
        ]
    )
    custom = client.CustomObjectsApi(kube_api)
    try:
        manifest = tmp_path / "branin.yaml"
        manifest.write_text(yaml.safe_dump(branin_for_the_test_cluster()))
        run([*kubectl, "apply", "-n", study_namespace, "-f", str(manifest)])
        study = until(
            lambda: custom.get_namespaced_custom_object(
                GROUP, VERSION, study_namespace, "tuningstudies", "branin"
            ),
            lambda s: (s.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
            "branin to finish",
            timeout=300,
        )
        print(
            "\n$ kubectl get studies\n" + run([*kubectl, "get", "studies", "-n", study_namespace])
        )
        assert study["status"]["phase"] == "Succeeded", json.dumps(study["status"])[:2000]
        budget = branin_for_the_test_cluster()["spec"]["budget"]["maxTrials"]
        assert study["status"]["trials"]["succeeded"] == budget
        assert study["status"]["bestValue"] < 1.0  # Branin's minimum is 0.398

        (pod,) = client.CoreV1Api(kube_api).list_namespaced_pod(namespace).items
        log = cluster.container_log(namespace, pod.metadata.name, "operator").read_text()
        assert "Forbidden" not in log and " 403" not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
    finally:
        run([*helm, "uninstall", RELEASE, "--wait", "--timeout=60s"])

    assert_only_deliberate_leftovers(kube_api, namespace, study_namespace)


def assert_only_deliberate_leftovers(
    kube_api: client.ApiClient, namespace: str, study_namespace: str
) -> None:
    selector = f"app.kubernetes.io/instance={RELEASE}"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    admission = client.AdmissionregistrationV1Api(kube_api)
    until(
        lambda: core.list_namespaced_pod(namespace).items,
        lambda pods: not pods,
        "the operator pod to go",
        timeout=60,
    )
    left = {
        "deployments": apps.list_namespaced_deployment(namespace).items,
        "services": core.list_namespaced_service(namespace).items,
        "configmaps": core.list_namespaced_config_map(namespace, label_selector=selector).items,
        "serviceaccounts": [
            sa
            for sa in core.list_namespaced_service_account(namespace).items
            if sa.metadata.name != "default"
        ],
        "roles": rbac.list_namespaced_role(namespace).items,
        "rolebindings": rbac.list_namespaced_role_binding(namespace).items,
        "clusterroles": rbac.list_cluster_role(label_selector=selector).items,
        "clusterrolebindings": rbac.list_cluster_role_binding(label_selector=selector).items,
        "policies": admission.list_validating_admission_policy(label_selector=selector).items,
        "bindings": admission.list_validating_admission_policy_binding(
            label_selector=selector
        ).items,
    }
    assert {kind: [o.metadata.name for o in objs] for kind, objs in left.items() if objs} == {}

    extensions = client.ApiextensionsV1Api(kube_api)
    for crd in ("tuningstudies.kubetune.dev", "trials.kubetune.dev"):
        extensions.read_custom_resource_definition(crd)  # kept: Helm never deletes CRDs
    leases = client.CoordinationV1Api(kube_api).list_namespaced_lease(namespace).items
    assert [lease.metadata.name for lease in leases] == [RELEASE]
    trial_accounts = rbac.list_namespaced_role(
        study_namespace, label_selector="kubetune.dev/managed=true"
    ).items
    assert [role.metadata.name for role in trial_accounts] == ["kubetune-trial"]
