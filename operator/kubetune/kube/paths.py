"""API paths of the resources the operator reads and writes, in one place."""

from __future__ import annotations

from kubetune.api.study import API_VERSION

_CUSTOM = f"/apis/{API_VERSION}"


def _scoped(prefix: str, namespace: str | None, plural: str) -> str:
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def studies(namespace: str | None = None) -> str:
    return _scoped(_CUSTOM, namespace, "tuningstudies")


def study_status(namespace: str, name: str) -> str:
    return f"{studies(namespace)}/{name}/status"


def trials(namespace: str | None = None) -> str:
    return _scoped(_CUSTOM, namespace, "trials")


def trial(namespace: str, name: str) -> str:
    return f"{trials(namespace)}/{name}"


def trial_status(namespace: str, name: str) -> str:
    return f"{trial(namespace, name)}/status"


def jobs(namespace: str | None = None) -> str:
    return _scoped("/apis/batch/v1", namespace, "jobs")


def job(namespace: str, name: str) -> str:
    return f"{jobs(namespace)}/{name}"


def pods(namespace: str | None = None) -> str:
    return _scoped("/api/v1", namespace, "pods")


def persistent_volume_claim(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}"


def config_map(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def events(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def lease(namespace: str, name: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"


def leases(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def resource_of(path: str) -> str:
    """The resource a request path names, ``plural[/subresource]``: a metric label that stays
    bounded whatever the namespaces and object names (``/apis/g/v/namespaces/ns/trials/t/status``
    is ``trials/status``)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    if not parts:
        return ""
    return f"{parts[0]}/{parts[2]}" if len(parts) > 2 else parts[0]
