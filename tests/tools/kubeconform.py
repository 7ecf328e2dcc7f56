"""kubeconform, built from its Go module at a pinned version, and the schemas it checks against.

There is no network here but package registries, so kubeconform's default schema source
(a GitHub repository) is out of reach. The schemas come from the API server the tests
start instead: its OpenAPI v3 document per group-version (`kubectl get --raw
/openapi/v3/...`) is turned into one JSON schema per kind, laid out as kubeconform's
`-schema-location '<dir>/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json'`
template expects. Those schemas are exactly what the cluster enforces, CRDs included (a
CustomResourceDefinition is checked against apiextensions.k8s.io/v1). In strict mode
every object schema that lists properties refuses unknown ones, as kubeconform's own
"-strict" schemas do.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KUBECONFORM_VERSION = "v0.8.0"
MODULE = "github.com/yannh/kubeconform/cmd/kubeconform"
SCHEMA_TEMPLATE = "{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json"


def tools_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "kubetune-tools"
    path.mkdir(parents=True, exist_ok=True)
    return path


def kubeconform_binary() -> Path:
    """`~/.cache/kubetune-tools/kubeconform-<version>/kubeconform`, built on first use (~1 min)."""
    target = tools_dir() / f"kubeconform-{KUBECONFORM_VERSION}"
    binary = target / "kubeconform"
    if binary.exists():
        return binary
    env = {**os.environ, "GOBIN": str(target), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    subprocess.run(
        ["go", "install", "-trimpath", f"{MODULE}@{KUBECONFORM_VERSION}"],
        check=True,
        env=env,
        cwd=tools_dir(),
        capture_output=True,
    )
    return binary


def schema_path(root: Path, api_version: str, kind: str) -> Path:
    """Where kubeconform looks for a kind, under SCHEMA_TEMPLATE ("v1" → Group "v1")."""
    parts = api_version.split("/")
    return root / parts[0] / parts[-1] / f"{kind.lower()}.json"


def write_schemas(
    kubectl: list[str], root: Path, kinds: Iterable[tuple[str, str]], strict: bool = True
) -> None:
    """Write the schema of every (apiVersion, kind) from the cluster's OpenAPI v3."""
    wanted = set(kinds)
    index = json.loads(_raw(kubectl, "/openapi/v3"))["paths"]
    for api_version in sorted({api_version for api_version, _ in wanted}):
        key = f"api/{api_version}" if "/" not in api_version else f"apis/{api_version}"
        document = json.loads(_raw(kubectl, index[key]["serverRelativeURL"]))
        components = _rewrite(document["components"]["schemas"], strict)
        for name, schema in components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                gv = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                if (gv, gvk["kind"]) not in wanted:
                    continue
                path = schema_path(root, api_version, gvk["kind"])
                path.parent.mkdir(parents=True, exist_ok=True)
                standalone = {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "$ref": f"#/definitions/{name}",
                    "definitions": components,
                }
                path.write_text(json.dumps(standalone))


def _raw(kubectl: list[str], path: str) -> str:
    return subprocess.run(
        [*kubectl, "get", "--raw", path], check=True, capture_output=True, text=True
    ).stdout


def _rewrite(schemas: dict[str, Any], strict: bool) -> dict[str, Any]:
    """OpenAPI v3 component schemas → JSON Schema draft-07 definitions."""

    def convert(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = dict(node)
        if "properties" in node:  # a map of names to schemas: names are not keywords
            node["properties"] = {name: convert(sub) for name, sub in node["properties"].items()}
        for keyword in ("items", "additionalProperties", "not"):
            if isinstance(node.get(keyword), dict):
                node[keyword] = convert(node[keyword])
        for keyword in ("allOf", "anyOf", "oneOf"):
            if isinstance(node.get(keyword), list):
                node[keyword] = [convert(sub) for sub in node[keyword]]
        ref = node.get("$ref")
        if isinstance(ref, str):
            node["$ref"] = ref.replace("#/components/schemas/", "#/definitions/")
        if node.get("format") == "int-or-string" or node.pop("x-kubernetes-int-or-string", None):
            for keyword in ("type", "format", "anyOf"):
                node.pop(keyword, None)
            node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if (
            strict
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node

    return {name: convert(schema) for name, schema in schemas.items()}
