"""The Helm chart, rendered without a cluster: lint, CRD copies, values docs, security, RBAC.

Schema validation (kubeconform) and server dry-runs need the API server's OpenAPI and live
in tests/integration/test_helm_chart.py; the install itself is tests/e2e/.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from kubetune.kube import objects
from tests.tools.chart import ALL_OPTIONS, CHART, REPO_ROOT, VALUE_SETS, documents, helm, template


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def operator_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects of the operator, without those of the web dashboard (webDashboard.*)."""
    return [
        d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "dashboard"
    ]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_lint_strict(values: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["--values", path]
    helm(*args)


def test_chart_crds_are_the_generated_crds() -> None:
    generated = sorted(p.name for p in (REPO_ROOT / "crds").glob("*.yaml"))
    shipped = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert shipped == generated
    for name in generated:
        assert (CHART / "crds" / name).read_text() == (REPO_ROOT / "crds" / name).read_text(), (
            f"helm/kubetune/crds/{name} differs from crds/{name}: "
            "cp crds/*.yaml helm/kubetune/crds/"
        )


def _leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every value; maps that hold user data (labels, resources) are leaves."""
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in FREE_FORM:
            paths |= _leaves(value, path + ".")
        else:
            paths.add(path)
    return paths


FREE_FORM = {"labels", "resources", "podSecurityContext", "containerSecurityContext"}


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        assert sub.get("description"), f"values.schema.json: {path} has no description"
        if "properties" in sub:
            assert sub.get("additionalProperties") is False, f"{path} must refuse unknown keys"
            paths |= _schema_paths(sub, path + ".")
        else:
            paths.add(path)
    return paths


def test_every_value_is_in_the_schema_and_commented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert _leaves(values) == _schema_paths(schema)

    documented = _leaves(values) | {path.rsplit(".", 1)[0] for path in _leaves(values)}
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing maps
    lines = (CHART / "values.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z]\w*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        stack = [(i, key) for i, key in stack if i < indent]
        path = ".".join([key for _, key in stack] + [match.group(2)])
        stack.append((indent, match.group(2)))
        if path in documented:
            previous = lines[number - 1].strip()
            assert previous.startswith("#"), f"values.yaml:{number + 1}: {path} has no comment"


def test_every_value_is_in_the_operations_doc() -> None:
    doc = (REPO_ROOT / "docs" / "operations.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = sorted(path for path in _leaves(values) if f"`{path}`" not in doc)
    assert not missing, f"docs/operations.md's values table lacks {missing}"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_operator_pod_meets_the_restricted_pod_security_standard(values: tuple[str, ...]) -> None:
    (deployment,) = by_kind(operator_objects(documents(template(values))), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["command"] == ["kubetune", "operator"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["resources"]["requests"]


def test_operator_settings_come_from_values_and_the_pod() -> None:
    (deployment,) = by_kind(documents(template()), "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KUBETUNE_LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace"
    )
    assert env["KUBETUNE_LEADER_ELECTION"]["value"] == "true"
    assert env["KUBETUNE_NAMESPACES"]["value"] == ""


def _grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and not rule.get("resourceNames")
        for rule in rules
    )


def _trial_role_rules() -> list[dict[str, Any]]:
    (role,) = [body for _, body in objects.trial_account("ns") if body["kind"] == "Role"]
    return role["rules"]


def test_cluster_wide_operator_holds_every_permission_it_grants_trial_pods() -> None:
    """Creating the kubetune-trial Role passes RBAC's escalation check without `escalate`."""
    docs = documents(template())
    (operator_role,) = [
        d for d in by_kind(docs, "ClusterRole") if d["metadata"]["name"] == "kubetune"
    ]
    for rule in _trial_role_rules():
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert _grants(operator_role["rules"], group, resource, verb), (
                        group,
                        resource,
                        verb,
                    )
    verbs = {verb for rule in operator_role["rules"] for verb in rule["verbs"]}
    assert not verbs & {"*", "escalate", "bind", "impersonate"}
    assert not any("*" in rule["resources"] for rule in operator_role["rules"])


def test_the_operator_may_only_get_config_maps_for_warm_start() -> None:
    """spec.warmStart.configMap is one GET; users' ConfigMaps are never listed or written."""
    docs = documents(template())
    (operator_role,) = [
        d for d in by_kind(docs, "ClusterRole") if d["metadata"]["name"] == "kubetune"
    ]
    verbs = {
        verb
        for rule in operator_role["rules"]
        if "configmaps" in rule["resources"]
        for verb in rule["verbs"]
    }
    assert verbs == {"get"}


def test_watched_namespaces_get_roles_and_nothing_cluster_wide_but_scanning() -> None:
    docs = documents(template(sets=["watchNamespaces={team-a,team-b}"]))
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in by_kind(docs, "Role")}
    assert roles == {
        ("team-a", "kubetune"),
        ("team-b", "kubetune"),
        ("kubetune", "kubetune-leader-election"),
    }
    cluster_roles = {d["metadata"]["name"]: d for d in by_kind(docs, "ClusterRole")}
    assert set(cluster_roles) == {"kubetune-scanning", "kubetune-edit", "kubetune-view"}
    scanning = cluster_roles["kubetune-scanning"]["rules"]
    assert {verb for rule in scanning for verb in rule["verbs"]} == {"get", "list", "watch"}
    (binding,) = by_kind(docs, "ValidatingAdmissionPolicyBinding")
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]
    assert selector["values"] == ["team-a", "team-b"]


def test_lease_permissions_only_with_leader_election() -> None:
    docs = documents(template(sets=["leaderElection.enabled=false"]))
    assert all("leader-election" not in d["metadata"]["name"] for d in docs)
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    refused = helm(
        "template",
        "k",
        str(CHART),
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=2",
        check=False,
    )
    assert refused.returncode != 0 and "needs leaderElection.enabled" in refused.stderr


def test_toggles_remove_their_objects() -> None:
    docs = documents(
        template(
            sets=[
                "rbac.create=false",
                "serviceAccount.create=false",
                "serviceAccount.name=existing",
                "trialIsolation.enabled=false",
                "dashboard.enabled=false",
                "metrics.service.enabled=false",
            ]
        )
    )
    assert sorted(d["kind"] for d in docs) == ["Deployment"]
    assert docs[0]["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


def test_service_monitor_carries_extra_labels_and_selects_the_service() -> None:
    docs = documents(template([str(ALL_OPTIONS)]))
    (monitor,) = by_kind(docs, "ServiceMonitor")
    (service,) = by_kind(operator_objects(docs), "Service")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_aggregated_roles_extend_admin_edit_and_view() -> None:
    docs = documents(template())
    labels = {d["metadata"]["name"]: d["metadata"]["labels"] for d in by_kind(docs, "ClusterRole")}
    assert labels["kubetune-edit"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert labels["kubetune-edit"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["kubetune-view"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"


def test_dashboard_config_map_holds_the_dashboard_file() -> None:
    docs = documents(template([str(ALL_OPTIONS)]))
    (config_map,) = by_kind(docs, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    shipped = json.loads((CHART / "dashboards" / "kubetune.json").read_text())
    assert json.loads(config_map["data"]["kubetune.json"]) == shipped


WEB_DASHBOARD = ["webDashboard.enabled=true"]


def _web_dashboard(*sets: str) -> list[dict[str, Any]]:
    docs = documents(template(sets=[*WEB_DASHBOARD, *sets]))
    return [
        d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "dashboard"
    ]


def test_web_dashboard_is_off_by_default_and_lints_when_on() -> None:
    assert "dashboard" not in {
        d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        for d in documents(template())
    }
    helm("lint", "--strict", str(CHART), "--set", *WEB_DASHBOARD)


def test_web_dashboard_may_only_read_studies_and_trials() -> None:
    docs = _web_dashboard("webDashboard.namespace=ml")
    (role,) = by_kind(docs, "Role")
    assert role["metadata"]["namespace"] == "ml"
    assert role["rules"] == [
        {
            "apiGroups": ["kubetune.dev"],
            "resources": ["tuningstudies", "trials"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    (binding,) = by_kind(docs, "RoleBinding")
    (account,) = by_kind(docs, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "kubetune"}
    ]
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert "--namespace=ml" in pod["containers"][0]["command"]


def test_web_dashboard_pod_meets_the_restricted_pod_security_standard() -> None:
    docs = _web_dashboard()
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    assert container["command"][:3] == ["kubetune", "dashboard", "--cluster"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    (service,) = by_kind(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_web_dashboard_roles_follow_rbac_create() -> None:
    docs = _web_dashboard("rbac.create=false")
    assert sorted(d["kind"] for d in docs) == ["Deployment", "Service", "ServiceAccount"]


def test_operator_selectors_never_match_web_dashboard_pods() -> None:
    docs = documents(template(sets=WEB_DASHBOARD))
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    dashboard_pod = deployments.pop("kubetune-dashboard")["spec"]["template"]["metadata"]
    (operator,) = deployments.values()
    selectors = [operator["spec"]["selector"]["matchLabels"]] + [
        s["spec"]["selector"]
        for s in by_kind(docs, "Service")
        if s["metadata"]["name"] != "kubetune-dashboard"
    ]
    for selector in selectors:
        assert not selector.items() <= dashboard_pod["labels"].items()
