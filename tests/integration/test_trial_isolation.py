"""A trial pod's token may update its own Trial's status and nothing else (the chart's VAP).

Set up as the operator and the chart do it: the ValidatingAdmissionPolicy and binding are
rendered from helm/kubetune (bound to this test's namespace only), the kubetune-trial
ServiceAccount/Role/RoleBinding are `objects.trial_account`. A Job named after Trial `s-1`
runs a probe as a pod with the node agent's pod-bound token; it PATCHes its own Trial's
status, the status of sibling `s-10` (whose name starts with `s-1`), its own spec, and its
own metadata through the status subresource, and prints what the API server answered.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubetune.kube import objects
from kubetune.kube.client import MERGE_PATCH
from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import file_text, job_condition, until
from tests.integration.operator_fixtures import GROUP, VERSION, crds
from tests.tools.chart import documents, template

pytestmark = pytest.mark.integration
__all__ = ["crds"]

PROBE = r"""
import json, os, ssl, sys, urllib.error, urllib.request
account = os.environ["KUBETUNE_SERVICEACCOUNT_DIR"]
token = open(os.path.join(account, "token")).read().strip()
context = ssl.create_default_context(cafile=os.path.join(account, "ca.crt"))
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
server = "https://%s:%s" % (host, port)
answers = {}
for case, path, body in json.loads(sys.argv[1]):
    request = urllib.request.Request(
        server + path, data=json.dumps(body).encode(), method="PATCH",
        headers={"Authorization": "Bearer " + token,
                 "Content-Type": "application/merge-patch+json"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            answers[case] = [response.status, ""]
    except urllib.error.HTTPError as error:
        answers[case] = [error.code, json.loads(error.read()).get("message", "")]
print("ANSWERS " + json.dumps(answers), flush=True)
"""


def _trial(name: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trial",
        "metadata": {"name": name, "labels": {"kubetune.dev/study": "s"}},
        "spec": {"study": "s", "index": index, "parameters": {"x": 0.5}},
    }


def _patch(host: str, ca: str, token: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        host + path,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": MERGE_PATCH},
    )
    try:
        context = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()).get("message", "")


@pytest.fixture
def isolation_policy(kube_api: client.ApiClient, namespace: str) -> Iterator[dict[str, Any]]:
    """The chart's policy and binding, the binding limited to this test's namespace."""
    rendered = documents(
        template(
            sets=[f"fullnameOverride=iso-{namespace}", f"watchNamespaces={{{namespace}}}"],
            show_only="templates/trial-isolation.yaml",
        )
    )
    policy, binding = rendered
    admission = client.AdmissionregistrationV1Api(kube_api)
    admission.create_validating_admission_policy(policy)
    admission.create_validating_admission_policy_binding(binding)
    yield policy
    admission.delete_validating_admission_policy_binding(binding["metadata"]["name"])
    admission.delete_validating_admission_policy(policy["metadata"]["name"])


def test_trial_pod_may_update_only_its_own_trial_status(
    kube_api: client.ApiClient,
    cluster: TestCluster,
    namespace: str,
    crds: None,
    isolation_policy: dict[str, Any],
) -> None:
    core, custom = client.CoreV1Api(kube_api), client.CustomObjectsApi(kube_api)
    admission = client.AdmissionregistrationV1Api(kube_api)
    checked = until(
        lambda: admission.read_validating_admission_policy(isolation_policy["metadata"]["name"]),
        lambda p: p.status is not None and p.status.type_checking is not None,
        "policy type-checked",
        timeout=30,
    )
    assert not checked.status.type_checking.expression_warnings, checked.status.type_checking

    rbac = client.RbacAuthorizationV1Api(kube_api)
    create = {
        "ServiceAccount": core.create_namespaced_service_account,
        "Role": rbac.create_namespaced_role,
        "RoleBinding": rbac.create_namespaced_role_binding,
    }
    for _, body in objects.trial_account(namespace):
        create[body["kind"]](namespace, body)
    for name, index in (("s-1", 1), ("s-10", 10)):
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "trials", _trial(name, index)
        )

    # A token of the trial account that is not bound to a pod is refused outright. Polling
    # it also waits until the API server has loaded the new policy.
    token = core.create_namespaced_service_account_token(
        objects.TRIAL_ACCOUNT, namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    host, ca = kube_api.configuration.host, kube_api.configuration.ssl_ca_cert
    own_status = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/trials/s-1/status"
    unbound = until(
        lambda: _patch(host, ca, token, own_status, {"status": {"lastStep": 1}}),
        lambda answer: answer[0] == 403,
        "the policy to refuse an unbound token",
        timeout=30,
    )
    assert "pod-bound token" in unbound[1]

    trials = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/trials"
    cases = [
        ("own status", f"{trials}/s-1/status", {"status": {"values": {"loss": 0.25}}}),
        ("sibling status", f"{trials}/s-10/status", {"status": {"values": {"loss": 9.0}}}),
        ("own spec", f"{trials}/s-1", {"spec": {"stop": True}}),
        ("own labels", f"{trials}/s-1/status", {"metadata": {"labels": {"hijack": "yes"}}}),
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "s-1"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "serviceAccountName": objects.TRIAL_ACCOUNT,
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "probe",
                            "image": "python:3.11-slim",
                            "command": [sys.executable, "-c", PROBE, json.dumps(cases)],
                        }
                    ],
                }
            },
        },
    }
    client.BatchV1Api(kube_api).create_namespaced_job(namespace, job)
    job_condition(client.BatchV1Api(kube_api), namespace, "s-1", ["Complete", "Failed"], 60)
    (pod,) = core.list_namespaced_pod(namespace, label_selector="job-name=s-1").items
    assert pod.metadata.name.startswith("s-1-") and len(pod.metadata.name) == len("s-1-") + 5
    log_path = cluster.container_log(namespace, pod.metadata.name, "probe")
    log = file_text(log_path, lambda text: "ANSWERS" in text)
    answers = json.loads(log.split("ANSWERS ", 1)[1].splitlines()[0])

    assert answers["own status"] == [200, ""]
    status, message = answers["sibling status"]
    assert status == 403
    assert (
        f"pod {pod.metadata.name} may only update the status of its own Trial, not s-10" in message
    )
    assert answers["own spec"][0] == 403  # RBAC: the Role has no patch on trials
    own = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "trials", "s-1")
    sibling = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "trials", "s-10")
    assert own["status"]["values"] == {"loss": 0.25}
    assert "values" not in (sibling.get("status") or {})
    assert own["spec"].get("stop") is not True
    # Metadata through the status subresource: refused by the policy (or dropped by the
    # API server); either way the label never lands.
    assert answers["own labels"][0] in (200, 403)
    assert "hijack" not in own["metadata"].get("labels", {})
