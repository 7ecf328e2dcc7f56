"""Benchmark problems and the drivers that run kubetune suggesters and Optuna samplers on them.

Shared by ``quality.py`` and ``latency.py``. A problem is a search space in the manifest's
parameter format, a function to minimize and, when known, its optimum. kubetune suggesters
are driven directly through the ``Suggester`` API with a ``History`` (no operator); Optuna
(an optional benchmark extra) is driven with ask/tell.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from kubetune.algorithms import create
from kubetune.api.study import Direction, Objective, ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.space import SearchSpace

OBJECTIVE = Objective(metric="loss", direction=Direction.MINIMIZE)


@dataclass(frozen=True)
class Problem:
    name: str
    specs: tuple[dict[str, Any], ...]
    evaluate: Callable[[Mapping[str, Any]], float]
    optimum: float | None = None
    cheap: bool = True  # False: scikit-learn fits, worth caching

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in self.specs])


def _floats(names: Sequence[str], low: float, high: float) -> tuple[dict[str, Any], ...]:
    return tuple({"name": n, "type": "float", "low": low, "high": high} for n in names)


def _vector(params: Mapping[str, Any], dims: int) -> np.ndarray:
    return np.array([float(params[f"x{i}"]) for i in range(dims)])


def branin(p: Mapping[str, Any]) -> float:
    x1, x2 = float(p["x0"]), float(p["x1"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(a: np.ndarray, p: np.ndarray, x: np.ndarray) -> float:
    return -float(_H_ALPHA @ np.exp(-(a * (x - p) ** 2).sum(1)))


def hartmann3(p: Mapping[str, Any]) -> float:
    return _hartmann(_H3_A, _H3_P, _vector(p, 3))


def hartmann6(p: Mapping[str, Any]) -> float:
    return _hartmann(_H6_A, _H6_P, _vector(p, 6))


def rosenbrock4(p: Mapping[str, Any]) -> float:
    x = _vector(p, 4)
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def levy6(p: Mapping[str, Any]) -> float:
    w = 1 + (_vector(p, 6) - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    body = ((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2)).sum()
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + body + tail)


def ackley5(p: Mapping[str, Any]) -> float:
    x = _vector(p, 5)
    return float(
        -20 * math.exp(-0.2 * math.sqrt((x**2).mean()))
        - math.exp(np.cos(2 * math.pi * x).mean())
        + 20
        + math.e
    )


def styblinski_tang5(p: Mapping[str, Any]) -> float:
    x = _vector(p, 5)
    return float(0.5 * (x**4 - 16 * x**2 + 5 * x).sum())


@cache
def _dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name]
    x, y = loader(return_X_y=True)
    return x, y


@cache
def _cv(kind: str, key: tuple[tuple[str, Any], ...]) -> float:
    from sklearn.linear_model import ElasticNet
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    p = dict(key)
    if kind == "svc":
        x, y = _dataset("breast_cancer")
        model = make_pipeline(StandardScaler(), SVC(C=p["C"], gamma=p["gamma"]))
        folds: Any = StratifiedKFold(3, shuffle=True, random_state=0)
        return -float(cross_val_score(model, x, y, cv=folds).mean())
    if kind == "knn":
        x, y = _dataset("wine")
        model = make_pipeline(
            StandardScaler(),
            KNeighborsClassifier(n_neighbors=p["k"], p=p["p"], weights=p["weights"]),
        )
        folds = StratifiedKFold(3, shuffle=True, random_state=0)
        return -float(cross_val_score(model, x, y, cv=folds).mean())
    x, y = _dataset("diabetes")
    model = make_pipeline(
        StandardScaler(), ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], max_iter=5000)
    )
    folds = KFold(3, shuffle=True, random_state=0)
    return -float(cross_val_score(model, x, y, cv=folds, scoring="r2").mean())


def _sklearn(kind: str) -> Callable[[Mapping[str, Any]], float]:
    def evaluate(p: Mapping[str, Any]) -> float:
        # Continuous values are rounded for the cache: 1e-6 relative changes do not matter.
        key = tuple(
            sorted((k, float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in p.items())
        )
        return _cv(kind, key)

    return evaluate


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "branin",
            (
                {"name": "x0", "type": "float", "low": -5, "high": 10},
                {"name": "x1", "type": "float", "low": 0, "high": 15},
            ),
            branin,
            0.397887,
        ),
        Problem("hartmann3", _floats(["x0", "x1", "x2"], 0, 1), hartmann3, -3.86278),
        Problem("hartmann6", _floats([f"x{i}" for i in range(6)], 0, 1), hartmann6, -3.32237),
        Problem("rosenbrock4", _floats([f"x{i}" for i in range(4)], -5, 10), rosenbrock4, 0.0),
        Problem("levy6", _floats([f"x{i}" for i in range(6)], -10, 10), levy6, 0.0),
        Problem("ackley5", _floats([f"x{i}" for i in range(5)], -32.768, 32.768), ackley5, 0.0),
        Problem(
            "styblinski_tang5",
            _floats([f"x{i}" for i in range(5)], -5, 5),
            styblinski_tang5,
            -39.16617 * 5,
        ),
        Problem(
            "svc_breast_cancer",
            (
                {"name": "C", "type": "float", "low": 1e-3, "high": 1e3, "log": True},
                {"name": "gamma", "type": "float", "low": 1e-5, "high": 1e1, "log": True},
            ),
            _sklearn("svc"),
            cheap=False,
        ),
        Problem(
            "knn_wine",
            (
                {"name": "k", "type": "int", "low": 1, "high": 50},
                {"name": "p", "type": "int", "low": 1, "high": 5},
                {"name": "weights", "type": "categorical", "choices": ["uniform", "distance"]},
            ),
            _sklearn("knn"),
            cheap=False,
        ),
        Problem(
            "elasticnet_diabetes",
            (
                {"name": "alpha", "type": "float", "low": 1e-4, "high": 1e1, "log": True},
                {"name": "l1_ratio", "type": "float", "low": 0, "high": 1},
            ),
            _sklearn("elasticnet"),
            cheap=False,
        ),
    ]
}


def load_problem_file(path: str) -> Problem:
    """A problem from a module defining SPACE, evaluate(params) and optionally OPTIMUM."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    specs = tuple(
        ParameterSpec.model_validate(s).model_dump(exclude_none=True) for s in module.SPACE
    )
    return Problem(Path(path).stem, specs, module.evaluate, getattr(module, "OPTIMUM", None))


@dataclass
class Run:
    """One optimization run: the loss of every trial in order and the time of each ask."""

    losses: list[float] = field(default_factory=list)
    ask_seconds: list[float] = field(default_factory=list)


def run_kubetune(
    algorithm: str,
    problem: Problem,
    trials: int,
    seed: int,
    batch: int = 1,
    settings: Mapping[str, Any] | None = None,
) -> Run:
    space = problem.space
    suggester = create(algorithm, space, dict(settings or {}), seed)
    records: list[TrialRecord] = []
    run = Run()
    while len(records) < trials:
        history = History(tuple(records), (OBJECTIVE,))
        start = time.perf_counter()
        suggestions = suggester.suggest(history, min(batch, trials - len(records)))
        run.ask_seconds.append((time.perf_counter() - start) / max(len(suggestions), 1))
        if not suggestions:
            break
        for s in suggestions:
            loss = problem.evaluate(s.params)
            records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, {"loss": loss}))
            run.losses.append(loss)
    return run


OPTUNA_SAMPLERS = ("optuna-tpe", "optuna-gp", "optuna-cmaes", "optuna-random", "optuna-ga")


def _optuna_sampler(name: str, seed: int) -> Any:
    import optuna

    return {
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "optuna-cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
        # Optuna's genetic algorithm: NSGA-II with one objective is an elitist GA.
        "optuna-ga": lambda: optuna.samplers.NSGAIISampler(seed=seed),
    }[name]()


def _optuna_distributions(problem: Problem) -> dict[str, Any]:
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for s in problem.specs:
        if s["type"] == "categorical":
            out[s["name"]] = d.CategoricalDistribution(s["choices"])
        elif s["type"] == "int":
            out[s["name"]] = d.IntDistribution(
                int(s["low"]), int(s["high"]), log=s.get("log", False), step=int(s.get("step") or 1)
            )
        else:
            out[s["name"]] = d.FloatDistribution(
                s["low"], s["high"], log=s.get("log", False), step=s.get("step")
            )
    return out


def run_optuna(sampler: str, problem: Problem, trials: int, seed: int, batch: int = 1) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=_optuna_sampler(sampler, seed))
    distributions = _optuna_distributions(problem)
    run = Run()
    while len(run.losses) < trials:
        size = min(batch, trials - len(run.losses))
        start = time.perf_counter()
        asked = [study.ask(distributions) for _ in range(size)]
        run.ask_seconds.append((time.perf_counter() - start) / size)
        for trial in asked:
            loss = problem.evaluate(trial.params)
            study.tell(trial, loss)
            run.losses.append(loss)
    return run


def run_sampler(sampler: str, problem: Problem, trials: int, seed: int, batch: int = 1) -> Run:
    """Run a sampler by name; ``name:key=value,...`` gives a kubetune suggester settings (in
    the manifest's spelling, e.g. ``bayesopt:batchStrategy=constant_liar``), so settings are
    compared in the same run and table as the defaults."""
    name, _, options = sampler.partition(":")
    if name.startswith("optuna-"):
        if options:
            raise SystemExit(f"{sampler}: settings are only for kubetune suggesters")
        return run_optuna(name, problem, trials, seed, batch)
    return run_kubetune(name, problem, trials, seed, batch, settings_from_text(options))


def settings_from_text(options: str) -> dict[str, Any]:
    """``key=value,...`` to a settings mapping; values are JSON where they parse (numbers,
    booleans), plain strings otherwise."""
    settings: dict[str, Any] = {}
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{item!r}: settings are written key=value")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings
