"""Study manifests for fuzzing: valid ones, and ones broken in the ways users break them.

A manifest starts from a small valid study and goes through a few mutations, so a good share
stays valid (and reaches the planning step) while the rest break one or several fields at a
time: non-finite numbers, wrong types, inverted bounds, huge lists, deep and cyclic ``when``
chains, unicode names, unknown algorithms and settings, broken templates. Shared by
``tests/unit/test_fuzz_manifests.py`` (validate and the local planning step) and
``tests/integration/test_fuzz_cluster.py`` (the real API server and operator).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from kubetune import algorithms, stopping
from kubetune.api.study import MAX_CHOICES, MAX_PARAMETERS

Manifest = dict[str, Any]

ALGORITHMS = sorted(algorithms.REGISTRY)
RULES = sorted(stopping.REGISTRY)

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
numbers = st.one_of(
    st.integers(-5, 50),
    finite,
    st.integers(-(2**63), 2**63),
    non_finite,
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
identifier = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
names = st.one_of(
    identifier,
    st.text(min_size=0, max_size=80),  # unicode, empty, too long, spaces
    st.just("x" * 64),
    st.sampled_from(["ℓr", "学习率", "lr\u200b", "a b", "${params.x}", "-x", "0x"]),
)


def base_manifest(name: str = "fuzz") -> Manifest:
    """A small valid study: its trial reads x and prints a loss."""
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [
                {"name": "x", "type": "float", "low": -1.0, "high": 1.0},
                {"name": "k", "type": "int", "low": 1, "high": 8},
                {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
            ],
            "algorithm": {"name": "random"},
            "budget": {"maxTrials": 4, "parallelTrials": 2},
            "trialTemplate": {
                "job": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "train",
                                    "image": "python:3.11-slim",
                                    "command": ["kubetune-runner", "--", "python", "-c"],
                                    "args": ["print('loss=${params.x}')"],
                                }
                            ],
                        }
                    },
                }
            },
        },
    }


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["float", "int", "categorical", "bogus", 3, None]))
    parameter: dict[str, Any] = {"name": draw(names), "type": kind}
    if kind in ("float", "int") or draw(st.booleans()):
        parameter["low"] = draw(st.one_of(numbers, junk))
        parameter["high"] = draw(st.one_of(numbers, junk))
        if draw(st.booleans()):
            parameter["log"] = draw(st.one_of(st.booleans(), junk))
        if draw(st.booleans()):
            parameter["step"] = draw(st.one_of(numbers, junk))
    if kind == "categorical" or draw(st.booleans()):
        size = draw(st.sampled_from([0, 1, 2, 5, MAX_CHOICES, MAX_CHOICES + 1]))
        item = st.one_of(st.integers(), finite, st.text(max_size=6), st.booleans(), non_finite)
        parameter["choices"] = draw(st.lists(item, min_size=size, max_size=size))
    return parameter


def when_chain(depth: int, cyclic: bool) -> list[dict[str, Any]]:
    """Categoricals c0 … c(depth-1), each active only under the previous one's "on"; with
    ``cyclic``, the first depends on the last."""
    chain = [
        {"name": f"c{i}", "type": "categorical", "choices": ["on", "off"]} for i in range(depth)
    ]
    for i in range(1, depth):
        chain[i]["when"] = {f"c{i - 1}": ["on"]}
    if cyclic and depth > 1:
        chain[0]["when"] = {f"c{depth - 1}": ["on"]}
    return chain


def _set(spec: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = spec
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


@st.composite
def mutation(draw: st.DrawFn, spec: dict[str, Any]) -> None:
    """Change one thing in ``spec``, in place."""
    choice = draw(st.integers(0, 16))
    params = spec["parameters"]
    if choice == 0:
        params.append(draw(parameters()))
    elif choice == 1 and params:
        params[draw(st.integers(0, len(params) - 1))] = draw(parameters())
    elif choice == 2:
        depth = draw(st.sampled_from([2, 8, 40, MAX_PARAMETERS - len(params)]))
        params.extend(when_chain(max(depth, 0), cyclic=draw(st.booleans())))
    elif choice == 3:
        size = draw(st.sampled_from([MAX_PARAMETERS, MAX_PARAMETERS + 1]))
        spec["parameters"] = [
            {"name": f"p{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(size)
        ]
    elif choice == 4:
        spec["algorithm"] = {"name": draw(st.one_of(st.sampled_from(ALGORITHMS), names))}
    elif choice == 5:
        settings = draw(st.dictionaries(st.one_of(identifier, names), junk, max_size=4))
        spec.setdefault("algorithm", {})["settings"] = settings
    elif choice == 6:
        rule = draw(st.one_of(st.sampled_from(RULES), names))
        settings = draw(st.dictionaries(identifier, junk, max_size=3))
        spec["earlyStopping"] = {"rule": rule, "settings": settings}
    elif choice == 7:
        key = draw(
            st.sampled_from(["maxTrials", "parallelTrials", "maxFailedTrials", "timeoutSeconds"])
        )
        _set(spec, ("budget", key), draw(st.one_of(numbers, junk)))
    elif choice == 8:
        resource = {"name": draw(names), "min": draw(numbers), "max": draw(numbers)}
        _set(spec, ("budget", "resource"), resource)
    elif choice == 9:
        spec.pop("objective", None)
        count = draw(st.integers(0, 6))
        spec["objectives"] = [
            {
                "metric": draw(names),
                "direction": draw(st.sampled_from(["minimize", "maximize", "up"])),
            }
            for _ in range(count)
        ]
    elif choice == 10:
        constraint: dict[str, Any] = {"metric": draw(names)}
        for bound in draw(st.sets(st.sampled_from(["max", "min"]))):
            constraint[bound] = draw(numbers)
        spec.setdefault("constraints", []).append(constraint)
    elif choice == 11:
        spec["initialTrials"] = draw(
            st.lists(st.dictionaries(st.sampled_from(["x", "k", "opt", "zz"]), junk), max_size=3)
        )
    elif choice == 12:
        spec["trialTemplate"] = base_manifest()["spec"]["trialTemplate"]
        container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
        container["args"] = [
            draw(
                st.sampled_from(
                    ["${params.nope}", "${budget}", "${trial}", "${params.}", "${", draw(names)]
                )
            )
        ]
    elif choice == 13:
        spec["trialTemplate"] = draw(st.one_of(junk, st.just({"job": {}})))
    elif choice == 14:
        _set(spec, ("objective", "target"), draw(numbers))
    elif choice == 15:
        spec["seed"] = draw(st.one_of(numbers, junk))
    else:
        spec[draw(names)] = draw(junk)  # an unknown field


@st.composite
def manifests(draw: st.DrawFn, name: str = "fuzz", max_mutations: int = 3) -> Manifest:
    manifest = base_manifest(name)
    spec = manifest["spec"]
    for _ in range(draw(st.integers(0, max_mutations))):
        draw(mutation(spec))
    if draw(st.integers(0, 19)) == 0:  # rarely: break the envelope itself
        manifest["metadata"] = draw(st.one_of(junk, st.just({"name": draw(names)})))
    return copy.deepcopy(manifest)


@st.composite
def plausible_parameter(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A parameter a user would write: mostly valid, with log scales, steps and choices."""
    kind = draw(st.sampled_from(["float", "int", "categorical"]))
    if kind == "categorical":
        item = st.one_of(st.integers(-3, 3), st.text(min_size=1, max_size=5), st.booleans())
        return {
            "name": name,
            "type": kind,
            "choices": draw(st.lists(item, min_size=1, max_size=6, unique_by=repr)),
        }
    low = draw(st.sampled_from([1e-5, 0.001, 1.0, 2.0, -10.0, 0.0]))
    high = low + draw(st.sampled_from([1e-9, 0.5, 1.0, 100.0, 1e6]))
    parameter: dict[str, Any] = {"name": name, "type": kind, "low": low, "high": high}
    if kind == "int":
        parameter["low"], parameter["high"] = int(low), int(high) + 1
    if low > 0 and draw(st.booleans()):
        parameter["log"] = True
    elif high - low >= 2 and draw(st.booleans()):
        parameter["step"] = draw(st.sampled_from([1, 2, 0.25])) if kind == "float" else 2
    return parameter


@st.composite
def plausible_manifests(draw: st.DrawFn, name: str = "fuzz") -> Manifest:
    """Studies that are mostly valid, over every algorithm and rule, so planning is fuzzed
    with each: several objectives, constraints, resources, conditional parameters."""
    manifest = base_manifest(name)
    spec = manifest["spec"]
    count = draw(st.integers(1, 6))
    spec["parameters"] = [draw(plausible_parameter(f"p{i}")) for i in range(count)]
    if draw(st.booleans()):
        spec["parameters"] += when_chain(draw(st.integers(2, 6)), cyclic=False)
        spec["parameters"].append(
            {"name": "deep", "type": "float", "low": 0.0, "high": 1.0, "when": {"c1": ["on"]}}
        )
    spec["algorithm"] = {"name": draw(st.sampled_from(ALGORITHMS))}
    if draw(st.booleans()):
        spec.pop("objective")
        spec["objectives"] = [
            {"metric": f"m{i}", "direction": draw(st.sampled_from(["minimize", "maximize"]))}
            for i in range(draw(st.integers(2, 3)))
        ]
    if draw(st.integers(0, 3)) == 0:
        spec["metrics"] = ["cost"]
        spec["constraints"] = [{"metric": "cost", "max": draw(finite)}]
    if draw(st.booleans()):
        spec["budget"]["resource"] = {
            "name": "epochs",
            "min": 1,
            "max": draw(st.sampled_from([2, 3, 27, 100])),
        }
    if draw(st.integers(0, 3)) == 0:
        spec["earlyStopping"] = {"rule": draw(st.sampled_from(RULES))}
    spec["budget"]["maxTrials"] = draw(st.integers(1, 40))
    spec["budget"]["parallelTrials"] = draw(st.integers(1, spec["budget"]["maxTrials"]))
    spec["seed"] = draw(st.integers(0, 2**31))
    container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["args"] = [
        f"print('{p['name']}=${{params.{p['name']}}}')" for p in spec["parameters"][:2]
    ]
    for _ in range(draw(st.integers(0, 1))):
        draw(mutation(spec))
    return copy.deepcopy(manifest)
