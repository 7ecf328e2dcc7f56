"""What a container process sees: its environment and its service-account directory.

The node agent has no images and no mount namespaces (`volumes.py` links mount paths to
real directories), so it recreates the parts of a kubelet's container setup that programs
rely on: the `env`/`envFrom` of the spec (with the
Downward API and `$(VAR)` expansion), the in-cluster service variables, and a
service-account directory (`token`, `ca.crt`, `namespace`) whose token comes from the
TokenRequest API bound to the pod, so the API server can tell which pod is calling.
Programs find that directory through `KUBETUNE_SERVICEACCOUNT_DIR`.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SERVICEACCOUNT_DIR_ENV = "KUBETUNE_SERVICEACCOUNT_DIR"
TOKEN_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_FRACTION = 0.8
"""Like the kubelet, fetch a new token once 80% of the old one's lifetime has passed."""

POD_IP = "127.0.0.1"
"""Every pod shares the machine's loopback interface."""

# Passed through from the agent's environment; everything else a container sees comes
# from its pod spec, so the admin KUBECONFIG of the person running tests never leaks in.
INHERITED_VARIABLES = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH")

_FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class UnsupportedPod(ValueError):
    """The pod asks for something a process-based node cannot provide."""


def base_environment(pod: Mapping[str, Any], api_host: str, api_port: int) -> dict[str, str]:
    """Variables every container of `pod` gets before its own `env`."""
    python_bin = str(Path(sys.executable).parent)  # not resolved: keep the venv's bin/
    path = os.pathsep.join(filter(None, [python_bin, os.environ.get("PATH", "")]))
    env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    env.update(
        PATH=path,
        HOSTNAME=pod["metadata"]["name"],
        KUBERNETES_SERVICE_HOST=api_host,
        KUBERNETES_SERVICE_PORT=str(api_port),
        KUBERNETES_SERVICE_PORT_HTTPS=str(api_port),
    )
    return env


def field_value(pod: Mapping[str, Any], field_path: str) -> str:
    """The Downward API value of `field_path` (`fieldRef.fieldPath`) for `pod`."""
    metadata, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    match = _FIELD_LABEL.match(field_path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    raise UnsupportedPod(f"fieldRef {field_path!r} is not supported by the node agent")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` escapes a dollar."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)


ObjectReader = Callable[[str, str], Mapping[str, str] | None]
"""Reads the data of a ConfigMap or Secret (kind, name) in the pod's namespace."""


def container_environment(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    base: Mapping[str, str],
    read_object: ObjectReader,
) -> dict[str, str]:
    """The full environment of one container, in the order the kubelet builds it."""
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind in ("configMapRef", "secretRef"):
            if kind in source:
                data = read_object(kind, source[kind]["name"])
                if data is None and not source[kind].get("optional"):
                    raise UnsupportedPod(f"{kind} {source[kind]['name']!r} not found")
                env.update({prefix + key: value for key, value in (data or {}).items()})
    for variable in container.get("env") or []:
        name = variable["name"]
        if "value" in variable:
            env[name] = expand(variable["value"], env)
        elif "valueFrom" in variable:
            resolved = _value_from(pod, variable["valueFrom"], read_object)
            if resolved is not None:
                env[name] = resolved
        else:
            env[name] = ""
    return env


def _value_from(
    pod: Mapping[str, Any], source: Mapping[str, Any], read_object: ObjectReader
) -> str | None:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    for kind, reader_kind in (("configMapKeyRef", "configMapRef"), ("secretKeyRef", "secretRef")):
        if kind in source:
            reference = source[kind]
            value = (read_object(reader_kind, reference["name"]) or {}).get(reference["key"])
            if value is None and not reference.get("optional"):
                raise UnsupportedPod(f"{kind} {reference['name']}/{reference['key']} not found")
            return value
    raise UnsupportedPod(f"valueFrom {sorted(source)} is not supported by the node agent")


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """`command` + `args` with `$(VAR)` expanded; the image's entrypoint is unknown here."""
    command = container.get("command") or []
    if not command:
        raise UnsupportedPod(
            f"container {container['name']!r} has no command; the node agent runs "
            "commands, not images"
        )
    return [expand(part, env) for part in [*command, *(container.get("args") or [])]]


def write_serviceaccount_dir(directory: Path, token: str, ca_cert: Path, namespace: str) -> None:
    """Write `token`, `ca.crt` and `namespace`, each replaced atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (("token", token), ("namespace", namespace)):
        partial = directory / f".{name}.partial"
        partial.write_text(content)
        partial.chmod(0o600)
        partial.replace(directory / name)
    shutil.copyfile(ca_cert, directory / "ca.crt")


def token_request_body(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A TokenRequest bound to `pod`: the token dies with the pod and names it."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": TOKEN_LIFETIME_SECONDS,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        },
    }


def token_refresh_due(issued_at: datetime.datetime, now: datetime.datetime) -> bool:
    age = (now - issued_at).total_seconds()
    return age >= TOKEN_LIFETIME_SECONDS * TOKEN_REFRESH_FRACTION
