"""Jobs run to completion through the real Job controller, scheduler and node agent."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import job_condition

pytestmark = pytest.mark.integration


def _job(name: str, script: str, completions: int, backoff_limit: int) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": completions,
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "ignored.example/python:3",
                            "command": ["python", "-c", script],
                        }
                    ],
                }
            },
        },
    }


def test_job_with_three_completions_completes(kube_api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, _job("three", "print('done')", 3, 0))

    job = job_condition(batch, namespace, "three", ["Complete", "Failed"])

    assert job.status.succeeded == 3
    assert not job.status.failed


def test_failing_job_fails_after_backoff_limit(kube_api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, _job("broken", "raise SystemExit(3)", 1, 1))

    job = job_condition(batch, namespace, "broken", ["Complete", "Failed"], timeout=90)

    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded"
    assert job.status.failed == 2  # the first try plus backoffLimit retries
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(
        namespace, label_selector="job-name=broken"
    )
    exit_codes = {p.status.container_statuses[0].state.terminated.exit_code for p in pods.items}
    assert exit_codes == {3}
