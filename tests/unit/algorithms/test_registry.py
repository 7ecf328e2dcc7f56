"""Each algorithm and stopping rule is declared once; names, CRD, docs and checks derive from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubetune import algorithms, stopping
from kubetune.algorithms import ALGORITHMS, REGISTRY, AlgorithmSettings, SettingsError
from kubetune.api.capabilities import Capabilities
from kubetune.cli import generated_crds
from kubetune.stopping.base import RuleSettings

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "algorithms.md").read_text()
PACKAGES = [
    ROOT / "operator" / "kubetune" / "algorithms",
    ROOT / "operator" / "kubetune" / "stopping",
]


def test_every_algorithm_module_is_discovered() -> None:
    assert {"random", "grid", "sobol", "bayesopt", "tpe", "cmaes", "asha", "hyperband"} <= set(
        REGISTRY
    )
    assert {"median", "percentile", "threshold"} <= set(stopping.REGISTRY)
    assert {name: d.suggester for name, d in REGISTRY.items()} == ALGORITHMS


def test_declarations_are_typed_and_consistent() -> None:
    for name, declaration in REGISTRY.items():
        assert declaration.name == name
        assert issubclass(declaration.settings, AlgorithmSettings)
        assert isinstance(declaration.capabilities, Capabilities)
    for name, rule in stopping.REGISTRY.items():
        assert rule.name == name
        assert issubclass(rule.settings, RuleSettings)
        assert rule.capabilities.reads_intermediate and rule.capabilities.stops_trials


def _generated_section(begin: str) -> str:
    match = re.search(rf"<!-- {begin}: generated[^>]*-->\n(.*?)<!-- end of {begin} -->", DOC, re.S)
    assert match, f"docs/algorithms.md lost its '{begin}' markers"
    return match.group(1)


def test_docs_tables_are_the_generated_ones() -> None:
    assert _generated_section("algorithms table") == algorithms.docs_table(), (
        "docs/algorithms.md is out of step with the declarations; paste this table:\n"
        + algorithms.docs_table()
    )
    assert _generated_section("stopping rules table") == stopping.docs_table(), (
        "paste this table into docs/algorithms.md:\n" + stopping.docs_table()
    )


def test_every_algorithm_and_rule_has_its_own_section_in_the_docs() -> None:
    for name in [*REGISTRY, *stopping.REGISTRY]:
        assert re.search(rf"^### `{name}`", DOC, re.M), f"document {name} in docs/algorithms.md"


def test_the_crd_accepts_exactly_the_declared_names() -> None:
    crd = yaml.safe_load(generated_crds()["tuningstudies.yaml"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["algorithm"]["properties"]["name"]["enum"] == list(REGISTRY)
    rule = spec["properties"]["earlyStopping"]["properties"]["rule"]
    assert rule["enum"] == stopping.names() == ["none", *stopping.REGISTRY]


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(SettingsError, match=r"'annealing' is not available; choose one of \["):
        algorithms.create("annealing", None, {}, 0)  # type: ignore[arg-type]
    with pytest.raises(stopping.RuleSettingsError, match="choose one of"):
        stopping.create("patience", {})


def test_no_runtime_type_asserts_in_algorithms_or_rules() -> None:
    """Settings are typed through the generic bases; asserts vanish under ``python -O``."""
    for package in PACKAGES:
        for source in package.glob("*.py"):
            text = source.read_text()
            assert "assert isinstance" not in text, source
            assert not re.search(r"^\s*assert ", text, re.M), source


def test_importing_the_registry_leaves_scipy_to_the_algorithms_that_compute() -> None:
    """SciPy takes ~0.75 s to import; every algorithm module comes with the registry, so a
    module that imported it at its top made every `kubetune` command, and a random search,
    wait for it (docs/benchmarks.md, local overhead)."""
    probe = "import sys, kubetune.cli; print([m for m in sys.modules if m.startswith('scipy')])"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == "[]"
