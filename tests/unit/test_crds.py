"""The committed CRDs are exactly what the models generate, and stay structural."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from kubetune import stopping
from kubetune.algorithms import REGISTRY
from kubetune.cli import generated_crds

CRDS = Path(__file__).parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    generated = generated_crds()
    committed = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    assert committed == generated, "CRDs drifted from the models: run `make crds` and commit"


def _walk(node: Any, path: str = "") -> list[str]:
    """Paths of schema nodes that are neither typed nor explicitly open."""
    problems = []
    if isinstance(node, dict) and ("properties" in node or "type" in node or "items" in node):
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(path)
        for name, child in node.get("properties", {}).items():
            problems += _walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            problems += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_schemas_are_structural_and_only_the_job_spec_is_open() -> None:
    for text in generated_crds().values():
        crd = yaml.safe_load(text)
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert "x-kubernetes-preserve-unknown-fields" not in schema
        assert _walk(schema) == []
        assert "additionalProperties: false" not in text


def test_printer_columns_and_names() -> None:
    studies = yaml.safe_load(generated_crds()["tuningstudies.yaml"])
    version = studies["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Algorithm", "Done", "Running", "Best", "Front", "Status", "Age",
    ]  # fmt: skip
    assert studies["spec"]["names"]["shortNames"] == ["study", "studies"]
    assert studies["spec"]["names"]["categories"] == ["kubetune"]
    assert version["subresources"] == {"status": {}}


def test_timeout_is_described_with_the_reason_it_ends_with() -> None:
    """``kubectl explain`` shows this text; the study ends with reason TimedOut."""
    studies = yaml.safe_load(generated_crds()["tuningstudies.yaml"])
    spec = studies["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    description = spec["properties"]["budget"]["properties"]["timeoutSeconds"]["description"]
    assert "TimedOut" in description and "BudgetExhausted" not in description


def test_capability_rules_list_the_algorithms_the_registry_declares_able() -> None:
    """`kubectl apply` refuses what an algorithm cannot do, from the same declarations as
    `kubetune validate` (the admission test checks the words against a real API server)."""
    studies = yaml.safe_load(generated_crds()["tuningstudies.yaml"])
    spec = studies["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules: dict[str | None, list[dict[str, str]]] = defaultdict(list)
    for rule in spec["x-kubernetes-validations"]:
        rules[rule.get("fieldPath")].append(rule)

    def listed(rule: dict[str, str]) -> list[str]:
        return rule["rule"].rsplit(" in [", 1)[1].split("]", 1)[0].replace("'", "").split(", ")

    several, constrained = rules[".algorithm.name"]
    able = {n for n, d in REGISTRY.items() if d.capabilities.several_objectives}
    assert set(listed(several)) == able and "several" in several["message"]
    able = {n for n, d in REGISTRY.items() if d.capabilities.constraints}
    assert set(listed(constrained)) == able and "constraints" in constrained["message"]
    (resource,) = rules[".budget.resource"]
    assert set(listed(resource)) == {
        n for n, d in REGISTRY.items() if d.capabilities.needs_resource
    }
    (rule,) = rules[".earlyStopping.rule"]
    assert set(listed(rule)) == {"none"} | {
        n for n, d in stopping.REGISTRY.items() if d.capabilities.several_objectives
    }
