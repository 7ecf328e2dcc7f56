"""A pod's process authenticates with its bound token, and the API server knows the pod.

This is what the trial runner and the per-trial ValidatingAdmissionPolicy rely on: the
token from `$KUBETUNE_SERVICEACCOUNT_DIR/token` names the ServiceAccount as user and
carries the pod name in the user's extra info.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import pod_phase

pytestmark = pytest.mark.integration

WHO_AM_I = """
import json, os, ssl, urllib.request
account_dir = os.environ["KUBETUNE_SERVICEACCOUNT_DIR"]
token = open(os.path.join(account_dir, "token")).read()
context = ssl.create_default_context(cafile=os.path.join(account_dir, "ca.crt"))
url = "https://{}:{}/apis/authentication.k8s.io/v1/selfsubjectreviews".format(
    os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
request = urllib.request.Request(url, data=json.dumps(review).encode(), method="POST",
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
user = json.load(urllib.request.urlopen(request, context=context))["status"]["userInfo"]
print(json.dumps({"user": user, "pod_name_env": os.environ["POD_NAME"],
                  "namespace_file": open(os.path.join(account_dir, "namespace")).read()}))
"""


def test_bound_token_names_service_account_and_pod(
    kube_api: client.ApiClient, namespace: str, cluster: TestCluster
) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "runner"}})
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "whoami"},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": "runner",
                "containers": [
                    {
                        "name": "main",
                        "image": "ignored.example/python:3",
                        "command": ["python", "-c", WHO_AM_I],
                        "env": [
                            {
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            }
                        ],
                    }
                ],
            },
        },
    )

    pod = pod_phase(core, namespace, "whoami", ["Succeeded", "Failed"])

    output = cluster.container_log(namespace, "whoami", "main").read_text()
    assert pod.status.phase == "Succeeded", output
    report = json.loads(output.strip().splitlines()[-1])
    assert report["user"]["username"] == f"system:serviceaccount:{namespace}:runner"
    assert report["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["whoami"]
    assert report["user"]["extra"]["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]
    assert report["pod_name_env"] == "whoami"
    assert report["namespace_file"] == namespace
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
