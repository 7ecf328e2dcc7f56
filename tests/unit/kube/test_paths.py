"""A request path names its resource as a bounded metric label, whatever its namespace or name."""

from __future__ import annotations

import pytest

from kubetune.kube import paths


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (paths.trials("ns"), "trials"),
        (paths.trial("ns", "s-1"), "trials"),
        (paths.trial_status("ns", "s-1"), "trials/status"),
        (paths.study_status("ns", "s"), "tuningstudies/status"),
        (paths.studies(), "tuningstudies"),
        (paths.job("ns", "s-1"), "jobs"),
        (paths.pods("ns"), "pods"),
        (paths.events("ns"), "events"),
        (paths.lease("kube-system", "kubetune"), "leases"),
        ("/api/v1/namespaces", "namespaces"),
        ("/api/v1/namespaces/ns", "namespaces"),
        ("/api/v1/namespaces/ns/pods?labelSelector=a", "pods"),
    ],
)
def test_resource_of(path: str, resource: str) -> None:
    assert paths.resource_of(path) == resource
