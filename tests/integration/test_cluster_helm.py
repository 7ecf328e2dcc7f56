"""`helm install --wait` of a Deployment works: the path the operator's e2e tests take.

The chart is written on the fly; its pod runs through the node agent with restartPolicy
Always, and helm waits for the Deployment to become available through the real
Deployment and ReplicaSet controllers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster import build
from tests.cluster.fixtures import TestCluster

pytestmark = pytest.mark.integration

CHART = """apiVersion: v2
name: sleeper
version: 0.1.0
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: sleeper}}
  template:
    metadata: {labels: {app: sleeper}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ignored.example/sleeper:1
          command: [sleep, "600"]
"""


def test_helm_install_waits_for_a_running_deployment(
    kube_api: client.ApiClient, namespace: str, cluster: TestCluster, tmp_path: Path
) -> None:
    chart = tmp_path / "sleeper"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)

    helm = [str(build.binary("helm")), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace]
    installed = subprocess.run(
        [*helm, "install", "sleeper", str(chart), "--wait", "--timeout=60s"],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )

    assert installed.returncode == 0, installed.stderr
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment("sleeper", namespace)
    assert deployment.status.available_replicas == 1
