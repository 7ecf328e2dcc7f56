"""Multi-objective quality and latency: kubetune's suggesters against Optuna's samplers.

For each problem, sampler and seed the *hypervolume* of the feasible trials (the volume of
objective space they dominate up to the problem's fixed reference point, see
``kubetune.hypervolume``) is recorded after 50, 100 and 200 trials; the table reports the
median over seeds, larger is better, the best of each row in bold. Optuna samplers run in
multi-objective mode (NSGAIISampler, TPESampler, RandomSampler; GPSampler only where torch
is importable), with ``constraints_func`` on constrained problems; kubetune's suggesters get
the constraints as ``spec.constraints`` (the history's), so ``nsga2`` and ``bayesopt``
honour them. On constrained problems a second table gives the median best feasible value of
each objective after the last checkpoint (and the median share of feasible trials).

``--latency`` instead times suggestions: each sampler runs ZDT1 for real and the median
seconds per suggestion is read around 100, 500 and 1,000 trials (every suggestion follows a
new finished trial, as in a running study, so nothing is served from a warm cache). Running
a Gaussian-process sampler for 1,000 real trials takes hours, so ``--prefill`` instead
starts every sampler from the same history of N uniformly random ZDT1 trials and times the
``--window`` suggestions after it (each again after a new finished trial). The runs hand
kubetune's samplers the same trial records call after call; ``--rebuild-records`` gives
them new, equal ones every call instead, as the engine builds them from its snapshots.

    .venv/bin/python -m benchmarks.multi_objective --seeds 2 --trials 50 --problems zdt1
    nice .venv/bin/python -m benchmarks.multi_objective --write docs/benchmarks.md   # full
    nice .venv/bin/python -m benchmarks.multi_objective --latency --write docs/benchmarks.md
    nice .venv/bin/python -m benchmarks.multi_objective --latency --prefill --window 5 \
        --samplers bayesopt optuna-gp --repeats 1

``--section NAME`` writes between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` instead
of the default markers, so a reduced run (a subset of samplers) gets its own table.

``--problem-file`` takes a module with ``SPACE`` (parameters in the manifest's format),
``OBJECTIVES`` (metric names, minimized, or ``{"metric", "direction"}`` mappings),
``evaluate(params)`` returning one value per objective and then one per constraint, and
optionally ``CONSTRAINTS`` (``[{"metric": name, "max": bound} or {"min": bound}]``) and
``REFERENCE_POINT`` (one value per objective, in the metrics' own units); without a
reference point, ``kubetune.hypervolume.default_reference_point`` of all runs' trials is used.
See ``benchmarks/example_multi_objective.py``.
"""

from __future__ import annotations

import os

# One BLAS/torch thread per process, set before numpy loads (see quality.py).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from functools import cache, partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.problems import _optuna_distributions, settings_from_text  # noqa: E402
from benchmarks.quality import replace_section  # noqa: E402
from kubetune.algorithms import create  # noqa: E402
from kubetune.api.study import Constraint as StudyConstraint  # noqa: E402
from kubetune.api.study import Direction, Objective, ParameterSpec  # noqa: E402
from kubetune.history import History, TrialRecord, TrialState  # noqa: E402
from kubetune.hypervolume import default_reference_point, hypervolume  # noqa: E402
from kubetune.space import SearchSpace  # noqa: E402

DEFAULT_SAMPLERS = (
    "random",
    "nsga2",
    "tpe",
    "bayesopt",
    "optuna-nsga2",
    "optuna-tpe",
    "optuna-gp",
    "optuna-random",
)
CHECKPOINTS = (50, 100, 200)
LATENCY_SIZES = (100, 500, 1000)
LATENCY_WINDOW = 25  # suggestions timed at each size, per run
START, END = "<!-- multi-objective:start -->", "<!-- multi-objective:end -->"
LATENCY_START, LATENCY_END = "<!-- mo-latency:start -->", "<!-- mo-latency:end -->"


@dataclass(frozen=True)
class Constraint:
    """A metric that must stay at or below ``max`` / at or above ``min`` (one of them)."""

    index: int  # position of the metric among evaluate()'s values, after the objectives
    metric: str
    max: float | None = None
    min: float | None = None

    @property
    def spec(self) -> StudyConstraint:
        """The same constraint as ``spec.constraints`` states it, for kubetune's history."""
        return StudyConstraint(metric=self.metric, max=self.max, min=self.min)

    def violation(self, value: float) -> float:
        """Optuna's convention: at most 0 when satisfied."""
        if self.max is not None:
            return value - self.max
        assert self.min is not None
        return self.min - value


@dataclass(frozen=True)
class MultiProblem:
    name: str
    specs: tuple[dict[str, Any], ...]
    evaluate: Callable[[Mapping[str, Any]], tuple[float, ...]]
    objectives: tuple[Objective, ...]
    reference: tuple[float, ...] | None  # in the metrics' units; None: derived from the runs
    constraints: tuple[Constraint, ...] = ()

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in self.specs])

    def losses(self, values: Sequence[float]) -> tuple[float, ...]:
        """Objective values as losses (maximized ones negated), as kubetune's history does."""
        return tuple(
            -v if o.direction is Direction.MAXIMIZE else v
            for v, o in zip(values, self.objectives, strict=False)
        )

    def metrics(self, values: Sequence[float]) -> dict[str, float]:
        """evaluate()'s values by metric name: the objectives', then the constraints'."""
        named = dict(zip((o.metric for o in self.objectives), values, strict=False))
        offset = len(self.objectives)
        return named | {c.metric: values[offset + c.index] for c in self.constraints}

    def feasible(self, values: Sequence[float]) -> bool:
        offset = len(self.objectives)
        return all(c.violation(values[offset + c.index]) <= 0 for c in self.constraints)


def _minimized(*names: str) -> tuple[Objective, ...]:
    return tuple(Objective(metric=n, direction=Direction.MINIMIZE) for n in names)


def _unit_floats(count: int) -> tuple[dict[str, Any], ...]:
    return tuple({"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(count))


def _x(params: Mapping[str, Any], count: int) -> np.ndarray:
    return np.array([float(params[f"x{i}"]) for i in range(count)])


def zdt(kind: int) -> Callable[[Mapping[str, Any]], tuple[float, ...]]:
    """ZDT1 (convex front), ZDT2 (concave) and ZDT3 (disconnected) of Zitzler, Deb and
    Thiele (2000), with 6 parameters."""

    def evaluate(params: Mapping[str, Any]) -> tuple[float, ...]:
        x = _x(params, 6)
        f1 = float(x[0])
        g = 1 + 9 * float(x[1:].mean())
        if kind == 1:
            h = 1 - math.sqrt(f1 / g)
        elif kind == 2:
            h = 1 - (f1 / g) ** 2
        else:
            h = 1 - math.sqrt(f1 / g) - (f1 / g) * math.sin(10 * math.pi * f1)
        return f1, g * h

    return evaluate


def dtlz2_objectives(count: int) -> Callable[[Mapping[str, Any]], tuple[float, ...]]:
    """DTLZ2 (Deb, Thiele, Laumanns and Zitzler 2005) with ``count`` objectives and 6
    parameters: the first ``count - 1`` place a point on the front, the unit sphere's
    positive orthant; the rest are its distance from it."""

    def evaluate(params: Mapping[str, Any]) -> tuple[float, ...]:
        x = _x(params, 6)
        radius = 1 + float(((x[count - 1 :] - 0.5) ** 2).sum())
        angles = x[: count - 1] * math.pi / 2
        values = []
        for k in range(count):
            value = radius
            for angle in angles[: count - 1 - k]:
                value *= math.cos(angle)
            if k:
                value *= math.sin(angles[count - 1 - k])
            values.append(value)
        return tuple(values)

    return evaluate


dtlz2 = dtlz2_objectives(3)


C2DTLZ2_RADIUS = 0.4
"""Radius of C2-DTLZ2's feasible balls with 3 objectives (Deb and Jain 2014; 0.5 with more)."""


def c2dtlz2(params: Mapping[str, Any]) -> tuple[float, ...]:
    """C2-DTLZ2 (Jain and Deb 2014) with 3 objectives and 6 parameters: DTLZ2's objectives
    and a constraint ``c <= 0`` that keeps only the parts of objective space within
    ``C2DTLZ2_RADIUS`` of a corner of the front's octant (1, 0, 0), (0, 1, 0), (0, 0, 1) or of
    its centre line's point (1, 1, 1) / sqrt(3): four disconnected feasible patches of the
    front, so most of it (and most of the space) is infeasible and the constraint binds."""
    f = np.array(dtlz2(params))
    squares = float((f**2).sum())
    corners = min((f[i] - 1) ** 2 + squares - f[i] ** 2 for i in range(len(f)))
    centre = float(((f - 1 / math.sqrt(len(f))) ** 2).sum())
    c = min(corners, centre) - C2DTLZ2_RADIUS**2
    return (*f.tolist(), c)


def binh_korn(params: Mapping[str, Any]) -> tuple[float, ...]:
    """Binh and Korn (1997): two objectives and two constraints, c1 <= 25 and c2 >= 7.7."""
    x, y = float(params["x"]), float(params["y"])
    return (
        4 * x * x + 4 * y * y,
        (x - 5) ** 2 + (y - 5) ** 2,
        (x - 5) ** 2 + y * y,
        (x - 8) ** 2 + (y + 3) ** 2,
    )


@cache
def _tree_scores(key: tuple[tuple[str, Any], ...]) -> tuple[float, float]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.tree import DecisionTreeClassifier

    p = dict(key)
    x, y = load_digits(return_X_y=True)
    model = DecisionTreeClassifier(
        max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"],
        max_features=p["max_features"],
        criterion=p["criterion"],
        ccp_alpha=p["ccp_alpha"],
        random_state=0,
    )
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    result = cross_validate(model, x, y, cv=folds, return_estimator=True)
    nodes = statistics.mean(e.tree_.node_count for e in result["estimator"])
    return float(result["test_score"].mean()), float(nodes)


def tree_digits(params: Mapping[str, Any]) -> tuple[float, ...]:
    """A decision tree on scikit-learn's digits: accuracy (3-fold CV) against model size
    (nodes). Continuous values are rounded for the cache."""
    key = tuple(
        sorted((k, float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in params.items())
    )
    return _tree_scores(key)


PROBLEMS: dict[str, MultiProblem] = {
    p.name: p
    for p in [
        MultiProblem("zdt1", _unit_floats(6), zdt(1), _minimized("f1", "f2"), (11.0, 11.0)),
        MultiProblem("zdt2", _unit_floats(6), zdt(2), _minimized("f1", "f2"), (11.0, 11.0)),
        MultiProblem("zdt3", _unit_floats(6), zdt(3), _minimized("f1", "f2"), (11.0, 11.0)),
        MultiProblem(
            "dtlz2", _unit_floats(6), dtlz2, _minimized("f1", "f2", "f3"), (1.5, 1.5, 1.5)
        ),
        MultiProblem(
            "dtlz2_4",
            _unit_floats(6),
            dtlz2_objectives(4),
            _minimized("f1", "f2", "f3", "f4"),
            (1.5, 1.5, 1.5, 1.5),
        ),
        MultiProblem(
            "c2dtlz2",
            _unit_floats(6),
            c2dtlz2,
            _minimized("f1", "f2", "f3"),
            (1.5, 1.5, 1.5),
            (Constraint(0, "c", max=0.0),),
        ),
        MultiProblem(
            "binh_korn",
            (
                {"name": "x", "type": "float", "low": 0, "high": 5},
                {"name": "y", "type": "float", "low": 0, "high": 3},
            ),
            binh_korn,
            _minimized("f1", "f2"),
            (140.0, 50.0),
            (Constraint(0, "c1", max=25.0), Constraint(1, "c2", min=7.7)),
        ),
        MultiProblem(
            "tree_digits",
            (
                {"name": "max_depth", "type": "int", "low": 1, "high": 30},
                {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 64, "log": True},
                {"name": "max_features", "type": "float", "low": 0.05, "high": 1.0},
                {"name": "criterion", "type": "categorical", "choices": ["gini", "entropy"]},
                {"name": "ccp_alpha", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
            ),
            tree_digits,
            (
                Objective(metric="accuracy", direction=Direction.MAXIMIZE),
                Objective(metric="nodes", direction=Direction.MINIMIZE),
            ),
            (0.0, 700.0),
        ),
    ]
}


def load_problem_file(path: str) -> MultiProblem:
    """A problem from a module with SPACE, OBJECTIVES, evaluate() and optionally
    CONSTRAINTS and REFERENCE_POINT (see the module docstring)."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    specs = tuple(
        ParameterSpec.model_validate(s).model_dump(exclude_none=True) for s in module.SPACE
    )
    objectives = tuple(
        Objective(metric=o, direction=Direction.MINIMIZE)
        if isinstance(o, str)
        else Objective.model_validate(o)
        for o in module.OBJECTIVES
    )
    constraints = []
    for i, c in enumerate(getattr(module, "CONSTRAINTS", [])):
        if ("max" in c) == ("min" in c):
            raise SystemExit(f"{path}: CONSTRAINTS[{i}] needs exactly one of 'max' and 'min'")
        constraints.append(Constraint(i, c["metric"], max=c.get("max"), min=c.get("min")))
    reference = getattr(module, "REFERENCE_POINT", None)
    if reference is not None and len(reference) != len(objectives):
        raise SystemExit(
            f"{path}: REFERENCE_POINT has {len(reference)} values for {len(objectives)} "
            "objectives; give one per objective"
        )
    return MultiProblem(
        Path(path).stem,
        specs,
        module.evaluate,
        objectives,
        tuple(reference) if reference is not None else None,
        tuple(constraints),
    )


@dataclass
class Run:
    """One run: every trial's values (objectives, then constraints) and each ask's seconds."""

    values: list[tuple[float, ...]] = field(default_factory=list)
    ask_seconds: list[float] = field(default_factory=list)


def run_kubetune(
    name: str,
    problem: MultiProblem,
    trials: int,
    seed: int,
    prefill: Sequence[Any] = (),
    rebuild: bool = False,
) -> Run:
    """Run a kubetune suggester one trial at a time; ``prefill`` (parameter sets) are
    evaluated first and given to it as finished trials, not timed. With ``rebuild`` every
    call gets new, equal records (as the engine builds them from its snapshots), not the
    same objects as the call before."""
    algorithm, _, options = name.partition(":")
    suggester = create(algorithm, problem.space, settings_from_text(options), seed)
    constraints = tuple(c.spec for c in problem.constraints)
    records: list[TrialRecord] = []
    run = Run()

    def record(params: Mapping[str, Any]) -> None:
        values = tuple(problem.evaluate(params))
        records.append(
            TrialRecord(len(records), dict(params), TrialState.COMPLETE, problem.metrics(values))
        )
        run.values.append(values)

    for params in prefill:
        record(params)
    while len(records) < trials:
        trials_now = tuple(
            replace(r, params=dict(r.params), values=dict(r.values)) if rebuild else r
            for r in records
        )
        history = History(trials_now, problem.objectives, constraints)
        start = time.perf_counter()
        suggestions = suggester.suggest(history, 1)
        run.ask_seconds.append(time.perf_counter() - start)
        if not suggestions:
            break
        record(suggestions[0].params)
    return run


def _optuna_sampler(name: str, seed: int, constrained: bool) -> Any:
    import optuna

    constraints = _constraint_values if constrained else None
    return {
        "optuna-nsga2": lambda: optuna.samplers.NSGAIISampler(
            seed=seed, constraints_func=constraints
        ),
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed, constraints_func=constraints),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed, constraints_func=constraints),
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "optuna-nsga3": lambda: optuna.samplers.NSGAIIISampler(
            seed=seed, constraints_func=constraints
        ),
    }[name]()


def _constraint_values(trial: Any) -> Sequence[float]:
    return list(trial.user_attrs["constraints"])


def run_optuna(
    name: str, problem: MultiProblem, trials: int, seed: int, prefill: Sequence[Any] = ()
) -> Run:
    """Run an Optuna sampler with ask and tell; ``prefill`` as for ``run_kubetune``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        directions=[o.direction.value for o in problem.objectives],
        sampler=_optuna_sampler(name, seed, bool(problem.constraints)),
    )
    distributions = _optuna_distributions(problem)  # type: ignore[arg-type]
    run = Run()
    offset = len(problem.objectives)

    def record(trial: Any) -> None:
        values = tuple(problem.evaluate(trial.params))
        violations = [c.violation(values[offset + c.index]) for c in problem.constraints]
        trial.set_user_attr("constraints", violations)
        study.tell(trial, list(values[:offset]))
        run.values.append(values)

    finished = []
    for params in prefill:
        values = tuple(problem.evaluate(params))
        violations = [c.violation(values[offset + c.index]) for c in problem.constraints]
        finished.append(
            optuna.trial.create_trial(
                params=dict(params),
                distributions=distributions,
                values=list(values[:offset]),
                user_attrs={"constraints": violations},
            )
        )
        run.values.append(values)
    study.add_trials(finished)
    while len(run.values) < trials:
        start = time.perf_counter()
        trial = study.ask(distributions)
        run.ask_seconds.append(time.perf_counter() - start)
        record(trial)
    return run


def optuna_available(name: str) -> bool:
    """GPSampler needs torch, which the benchmark extra may lack: then it is left out."""
    if name == "optuna-gp":
        return importlib.util.find_spec("torch") is not None
    return importlib.util.find_spec("optuna") is not None


def _job(args: tuple[str, str, int, int, str | None]) -> dict[str, Any]:
    sampler, problem_name, trials, seed, problem_file = args
    problem = load_problem_file(problem_file) if problem_file else PROBLEMS[problem_name]
    start = time.perf_counter()
    runner = run_optuna if sampler.startswith("optuna-") else run_kubetune
    run = runner(sampler, problem, trials, seed)
    return {
        "sampler": sampler,
        "problem": problem.name,
        "seed": seed,
        "values": run.values,
        "ask_seconds": run.ask_seconds,
        "seconds": time.perf_counter() - start,
    }


def feasible_losses(problem: MultiProblem, values: Sequence[Sequence[float]]) -> np.ndarray:
    rows = [problem.losses(v) for v in values if problem.feasible(v)]
    return np.array(rows, dtype=float).reshape(len(rows), len(problem.objectives))


def reference_losses(problem: MultiProblem, runs: list[dict[str, Any]]) -> np.ndarray:
    """The problem's reference point as losses, or the default one of every feasible trial."""
    if problem.reference is not None:
        return np.array(problem.losses(problem.reference))
    everything = np.vstack([feasible_losses(problem, r["values"]) for r in runs])
    return default_reference_point(everything)


def hypervolume_table(
    results: list[dict[str, Any]], problems: Sequence[MultiProblem], checkpoints: Sequence[int]
) -> dict[str, Any]:
    """Median feasible hypervolume per (problem, sampler, checkpoint)."""
    table: dict[str, Any] = {}
    for problem in problems:
        runs = [r for r in results if r["problem"] == problem.name]
        if not runs:
            continue
        reference = reference_losses(problem, runs)
        table[problem.name] = {"reference": reference.tolist(), "samplers": {}}
        for sampler in dict.fromkeys(r["sampler"] for r in runs):
            row = {}
            for checkpoint in checkpoints:
                volumes = [
                    hypervolume(feasible_losses(problem, r["values"][:checkpoint]), reference)
                    for r in runs
                    if r["sampler"] == sampler and len(r["values"]) >= checkpoint
                ]
                if volumes:
                    row[checkpoint] = statistics.median(volumes)
            table[problem.name]["samplers"][sampler] = row
    return table


def feasible_table(
    results: list[dict[str, Any]], problems: Sequence[MultiProblem], trials: int
) -> dict[str, dict[str, list[float]]]:
    """Per constrained problem and sampler: the median best feasible value of each objective
    (in the metric's own units) after ``trials``, then the median share of feasible trials."""
    table: dict[str, dict[str, list[float]]] = {}
    for problem in problems:
        if not problem.constraints:
            continue
        for sampler in dict.fromkeys(r["sampler"] for r in results if r["problem"] == problem.name):
            runs = [
                r["values"][:trials]
                for r in results
                if r["problem"] == problem.name and r["sampler"] == sampler
            ]
            row = []
            for k, objective in enumerate(problem.objectives):
                sign = -1.0 if objective.direction is Direction.MAXIMIZE else 1.0
                bests = [
                    min((sign * v[k] for v in values if problem.feasible(v)), default=math.inf)
                    for values in runs
                ]
                row.append(sign * statistics.median(bests))
            row.append(
                statistics.median(
                    sum(problem.feasible(v) for v in values) / len(values) for values in runs
                )
            )
            table.setdefault(problem.name, {})[sampler] = row
    return table


def feasible_markdown(table: dict[str, dict[str, list[float]]], trials: int) -> str:
    if not table:
        return ""
    lines = [
        "",
        f"Constrained problems: median best feasible value of each objective after {trials} "
        "trials, and the median share of feasible trials.",
        "",
    ]
    for problem, rows in table.items():
        lines += [f"| {problem} | best of each objective | feasible |", "|---|---|---:|"]
        for sampler, row in rows.items():
            bests = ", ".join(f"{v:.4g}" for v in row[:-1])
            lines.append(f"| {sampler} | {bests} | {row[-1]:.0%} |")
        lines.append("")  # one table per problem
    return "\n".join(lines)


def markdown(
    table: dict[str, Any], command: str, seeds: int, note: str, checkpoints: Sequence[int]
) -> str:
    samplers = list(dict.fromkeys(s for row in table.values() for s in row["samplers"]))
    samplers.sort(key=lambda s: (s.startswith("optuna"), s))
    lines = [
        "## Multi-objective",
        "",
        "Median hypervolume of the feasible trials over seeds (larger is better; the reference "
        "point of each problem is in the second column, in loss units: maximized metrics "
        "negated), each cell `after " + " / after ".join(map(str, checkpoints)) + " trials`, "
        "the best after the last checkpoint in bold. On the constrained problems (`binh_korn`, "
        "`c2dtlz2`) every sampler "
        "is given the constraints (kubetune's as `spec.constraints`, Optuna's as "
        "`constraints_func`).",
        "",
        f"Command: `{command}` ({seeds} seeds). {note}".rstrip(),
        "",
        "| problem | reference | " + " | ".join(samplers) + " |",
        "|---|---|" + "---|" * len(samplers),
    ]
    last = checkpoints[-1]
    for problem, row in table.items():
        best = max((r.get(last, -math.inf) for r in row["samplers"].values()), default=None)
        cells = []
        for sampler in samplers:
            values = row["samplers"].get(sampler, {})
            text = " / ".join("–" if c not in values else f"{values[c]:.4g}" for c in checkpoints)
            cells.append(f"**{text}**" if values.get(last) == best else text)
        reference = ", ".join(f"{v + 0.0:g}" for v in row["reference"])  # + 0.0: no "-0"
        lines.append(f"| {problem} | ({reference}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _run(jobs: list[Any], log: Path, workers: int, resume: bool) -> list[dict[str, Any]]:
    """Run the jobs not yet in the log (with ``resume``), appending each result as it ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    reuse = resume and log.exists()  # --resume on a first run starts the log
    results = [json.loads(line) for line in log.read_text().splitlines()] if reuse else []
    # A run is deterministic in its seed, so a longer recorded run covers a shorter job.
    recorded = {(r["sampler"], r["problem"], r["seed"]): len(r["values"]) for r in results}
    jobs = [j for j in jobs if recorded.get((j[0], j[1], j[3]), -1) < j[2]]
    with ProcessPoolExecutor(workers) as pool, log.open("a" if reuse else "w") as out:
        for done, result in enumerate(pool.map(_job, jobs), 1):
            results.append(result)
            out.write(json.dumps(result) + "\n")
            out.flush()
            print(
                f"[{done}/{len(jobs)}] {result['problem']} {result['sampler']} "
                f"seed {result['seed']} in {result['seconds']:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return results


def latency(
    samplers: Sequence[str],
    sizes: Sequence[int],
    repeats: int,
    window: int,
    prefill: bool,
    rebuild: bool = False,
) -> dict[str, dict[int, float]]:
    """Median seconds per suggestion over the ``window`` suggestions after each size, each
    sampler running ZDT1 for real (or, with ``prefill``, from a random history of that size),
    ``repeats`` times (seeds) taking turns."""
    problem = PROBLEMS["zdt1"]
    samples: dict[str, dict[int, list[float]]] = {s: {n: [] for n in sizes} for s in samplers}
    for seed in range(repeats):
        for sampler in samplers:
            runner: Callable[..., Run] = (
                run_optuna
                if sampler.startswith("optuna-")
                else partial(run_kubetune, rebuild=rebuild)
            )
            if prefill:
                rng = np.random.default_rng(seed)
                for n in sizes:
                    history = problem.space.sample(rng, n)
                    run = runner(sampler, problem, n + window, seed, history)
                    samples[sampler][n] += run.ask_seconds
                    print(sampler, n, statistics.median(run.ask_seconds), file=sys.stderr)
                continue
            run = runner(sampler, problem, max(sizes) + window, seed)
            for n in sizes:
                samples[sampler][n] += run.ask_seconds[n : n + window]
    rows = {
        sampler: {n: statistics.median(values) for n, values in by_size.items()}
        for sampler, by_size in samples.items()
    }
    print(rows, file=sys.stderr, flush=True)
    return rows


def latency_markdown(
    rows: dict[str, dict[int, float]],
    sizes: Sequence[int],
    command: str,
    window: int,
    prefill: bool,
) -> str:
    source = (
        "a history of N uniformly random ZDT1 trials" if prefill else "N trials of real ZDT1 runs"
    )
    lines = [
        "### Multi-objective suggestion latency",
        "",
        f"Median milliseconds per suggestion over the {window} suggestions after {source} "
        "(each one after a new finished trial), over the runs of `--repeats` seeds; the "
        "samplers take turns run by run.",
        "",
        f"Command: `{command}`",
        "",
        "| sampler | " + " | ".join(f"N = {n:,}" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for sampler, row in rows.items():
        cells = [f"{row[n] * 1e3:.1f}" if n in row else "–" for n in sizes]
        lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--problem-file", help="a module with SPACE, OBJECTIVES and evaluate()")
    parser.add_argument("--samplers", nargs="*", default=list(DEFAULT_SAMPLERS))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--json",
        type=Path,
        help="where the table goes (default benchmarks/results/multi_objective.json, or "
        "multi_objective_latency.json with --latency); the runs go to its .jsonl",
    )
    parser.add_argument("--write", type=Path, help="replace this file's section with the table")
    parser.add_argument("--note", default="", help="a sentence added under the command")
    parser.add_argument("--resume", action="store_true", help="reuse runs in the .jsonl log")
    parser.add_argument("--latency", action="store_true", help="time suggestions instead (--sizes)")
    parser.add_argument("--sizes", nargs="*", type=int, default=list(LATENCY_SIZES))
    parser.add_argument("--repeats", type=int, default=3, help="latency runs per sampler")
    parser.add_argument(
        "--window", type=int, default=LATENCY_WINDOW, help="suggestions timed per size"
    )
    parser.add_argument(
        "--prefill", action="store_true", help="latency from random histories, not real runs"
    )
    parser.add_argument(
        "--rebuild-records",
        action="store_true",
        help="latency: give kubetune's samplers new, equal trial records every call",
    )
    parser.add_argument("--section", help="write between <!-- SECTION:start/end --> markers")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.multi_objective " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )

    samplers = []
    for sampler in args.samplers:
        if sampler.startswith("optuna-") and not optuna_available(sampler):
            print(f"{sampler}: not importable here (torch?), left out", file=sys.stderr)
            continue
        samplers.append(sampler)
    results = Path("benchmarks/results")
    if args.latency:
        rows = latency(
            samplers, args.sizes, args.repeats, args.window, args.prefill, args.rebuild_records
        )
        json_path = args.json or results / "multi_objective_latency.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(rows, indent=1))
        text = latency_markdown(rows, args.sizes, command.strip(), args.window, args.prefill)
        print(text)
        if args.write:
            replace_section(args.write, text, *_markers(args.section, LATENCY_START, LATENCY_END))
        return

    problems = (
        [load_problem_file(args.problem_file)]
        if args.problem_file
        else [PROBLEMS[name] for name in args.problems]
    )
    jobs = [
        (sampler, problem.name, args.trials, seed, args.problem_file)
        for problem in problems
        for sampler in samplers
        for seed in range(args.seeds)
    ]
    # Slow samplers first so the pool's tail is short.
    slow = ("optuna-gp", "bayesopt", "optuna-tpe")
    jobs.sort(key=lambda j: (j[0] not in slow, j[1] != "tree_digits"))
    json_path = args.json or results / "multi_objective.json"
    runs = _run(jobs, json_path.with_suffix(".jsonl"), args.jobs, args.resume)
    checkpoints = [c for c in CHECKPOINTS if c <= args.trials] or [args.trials]
    table = hypervolume_table(runs, problems, checkpoints)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(table, indent=1))
    text = markdown(table, command.strip(), args.seeds, args.note, checkpoints)
    text += feasible_markdown(feasible_table(runs, problems, checkpoints[-1]), checkpoints[-1])
    print(text)
    if args.write:
        replace_section(args.write, text, *_markers(args.section, START, END))


def _markers(section: str | None, start: str, end: str) -> tuple[str, str]:
    if section is None:
        return start, end
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


if __name__ == "__main__":
    main()
