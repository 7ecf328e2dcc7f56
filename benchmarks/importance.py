"""Parameter importance: kubetune's PED-ANOVA and fANOVA against Optuna's evaluators.

For each problem and seed, one random-search history (``--trials`` trials) is scored by
kubetune (``kubetune.importance``) and by Optuna (``PedAnovaImportanceEvaluator``,
``FanovaImportanceEvaluator``, both with their defaults) from the very same trials. The table
reports, median over seeds: the Spearman rank correlation of kubetune's importances with
Optuna's (1 = same order), with the known order where the problem has one, and the seconds
each evaluation took. Optuna's fANOVA scores only the parameters every trial has and its
PED-ANOVA a conditional parameter over the trials that set it, so on the conditional
problem the agreement (and "same top parameter") is over the parameters both scored. The
last rows time a 10,000-trial, 64-parameter history (kubetune's fANOVA fits 1,000 of them;
Optuna's fANOVA on all 10,000 is not run, it takes minutes). ``--problems`` takes names or
their beginnings.

    .venv/bin/python -m benchmarks.importance --seeds 2 --problems brief     # smoke
    nice -n 10 .venv/bin/python -m benchmarks.importance --write docs/benchmarks.md
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one BLAS thread, as in quality.py

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from benchmarks.problems import (  # noqa: E402
    OBJECTIVE,
    PROBLEMS,
    Problem,
    _optuna_distributions,
)
from benchmarks.quality import replace_section  # noqa: E402
from kubetune.history import History, TrialRecord, TrialState  # noqa: E402
from kubetune.importance import ImportanceMethod, parameter_importance  # noqa: E402

START, END = "<!-- importance:start -->", "<!-- importance:end -->"
SCALE_TRIALS, SCALE_DIMS = 10_000, 64


def _brief(p: Mapping[str, Any]) -> float:
    return 10 * p["x1"] ** 2 + 3 * p["x2"] + 0.1 * p["x3"]


def _linear(p: Mapping[str, Any]) -> float:
    return 8 * p["c"] + 4 * p["a"] + 1 * p["d"]


_PENALTY = {"sgd": 5.0, "adam": 0.0, "rmsprop": 4.0, "adagrad": 6.0}


def _conditional(p: Mapping[str, Any]) -> float:
    step = 6 * p["momentum"] if p["optimizer"] == "sgd" else _PENALTY[p["optimizer"]] / 2
    return step + (np.log10(p["lr"]) + 2.5) ** 2 + 0.2 * p["width"] / 64


def _wide(p: Mapping[str, Any]) -> float:
    return 10 * p["p17"] ** 2 + 4 * p["p42"] + 0.5 * p["p03"]


def _floats(*names: str) -> tuple[dict[str, Any], ...]:
    return tuple({"name": n, "type": "float", "low": -1.0, "high": 1.0} for n in names)


SYNTHETIC = {
    p.name: p
    for p in [
        Problem("brief: 10·x1²+3·x2+0.1·x3", _floats("x1", "x2", "x3", "x4"), _brief),
        Problem("linear: 8c+4a+d", _floats("a", "b", "c", "d"), _linear),
        Problem(
            "conditional",
            (
                {"name": "optimizer", "type": "categorical", "choices": list(_PENALTY)},
                {
                    "name": "momentum",
                    "type": "float",
                    "low": 0,
                    "high": 1,
                    "when": {"optimizer": ["sgd"]},
                },
                {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
                {"name": "width", "type": "int", "low": 8, "high": 64},
            ),
            _conditional,
        ),
        Problem("64 parameters", _floats(*(f"p{i:02d}" for i in range(64))), _wide),
    ]
}
KNOWN_ORDER = {
    "brief: 10·x1²+3·x2+0.1·x3": ["x1", "x2", "x3", "x4"],
    "linear: 8c+4a+d": ["c", "a", "d", "b"],
}
DEFAULT_PROBLEMS = (
    "brief: 10·x1²+3·x2+0.1·x3",
    "linear: 8c+4a+d",
    "conditional",
    "64 parameters",
    "branin",
    "hartmann6",
    "rosenbrock4",
    "styblinski_tang5",
    "knn_wine",
    "svc_breast_cancer",
)


def _optuna_evaluator(method: ImportanceMethod, seed: int) -> Any:
    from optuna import importance

    if method is ImportanceMethod.PED_ANOVA:
        return importance.PedAnovaImportanceEvaluator()
    return importance.FanovaImportanceEvaluator(seed=seed)


def random_history(problem: Problem, trials: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    points = problem.space.sample(np.random.default_rng(seed), trials)
    return [(p, problem.evaluate(p)) for p in points]


def kubetune_importance(
    problem: Problem,
    history: list[tuple[dict[str, Any], float]],
    method: ImportanceMethod,
    seed: int,
) -> tuple[dict[str, float], float]:
    records = tuple(
        TrialRecord(i, p, TrialState.COMPLETE, {"loss": loss})
        for i, (p, loss) in enumerate(history)
    )
    history_ = History(records, (OBJECTIVE,))
    space = problem.space
    start = time.perf_counter()
    (result,) = parameter_importance(space, history_, method, seed)
    seconds = time.perf_counter() - start
    return {p.name: p.importance for p in result.importances}, seconds


def optuna_importance(
    problem: Problem,
    history: list[tuple[dict[str, Any], float]],
    method: ImportanceMethod,
    seed: int,
) -> tuple[dict[str, float], float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    distributions = _optuna_distributions(problem)
    study = optuna.create_study()
    study.add_trials(
        [
            optuna.trial.create_trial(
                params=p, distributions={k: distributions[k] for k in p}, value=loss
            )
            for p, loss in history
        ]
    )
    start = time.perf_counter()
    found = optuna.importance.get_param_importances(
        study, evaluator=_optuna_evaluator(method, seed)
    )
    return {k: float(v) for k, v in found.items()}, time.perf_counter() - start


def rank_correlation(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    names = sorted(set(first) & set(second))
    rho = stats.spearmanr([first[n] for n in names], [second[n] for n in names]).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def known_correlation(found: Mapping[str, float], order: Sequence[str]) -> float:
    return rank_correlation(found, {n: float(len(order) - i) for i, n in enumerate(order)})


def measure(problem: Problem, method: ImportanceMethod, trials: int, seeds: int) -> dict[str, Any]:
    """Medians over seeds of agreement and seconds; how often both rank the same parameter first."""
    order = KNOWN_ORDER.get(problem.name)
    columns: dict[str, list[float]] = {}
    same_top = 0
    for seed in range(seeds):
        history = random_history(problem, trials, seed)
        ours, our_seconds = kubetune_importance(problem, history, method, seed)
        theirs, their_seconds = optuna_importance(problem, history, method, seed)
        row = {
            "agreement": rank_correlation(ours, theirs),
            "ours_seconds": our_seconds,
            "theirs_seconds": their_seconds,
        }
        if order:
            row["ours_known"] = known_correlation(ours, order)
            row["theirs_known"] = known_correlation(theirs, order)
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
        common = sorted(set(ours) & set(theirs))
        same_top += max(common, key=ours.__getitem__) == max(common, key=theirs.__getitem__)
    medians: dict[str, Any] = {key: statistics.median(v) for key, v in columns.items()}
    return {
        "ours_known": None,
        "theirs_known": None,
        **medians,
        "same_top": same_top,
        "seeds": seeds,
    }


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(results: list[tuple[str, ImportanceMethod, dict[str, Any]]], trials: int) -> str:
    lines = [
        f"| problem ({trials} random trials) | method | ρ with Optuna | same top parameter "
        "| ρ with known order (kubetune / Optuna) | seconds kubetune | seconds Optuna |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, method, r in results:
        known = f"{_cell(r['ours_known'])} / {_cell(r['theirs_known'])}"
        lines.append(
            f"| {name} | {method.value} | {r['agreement']:.2f} | {r['same_top']}/{r['seeds']} "
            f"| {known} | {r['ours_seconds']:.3f} | {r['theirs_seconds']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def scale_table() -> str:
    problem = Problem("scale", _floats(*(f"p{i:02d}" for i in range(SCALE_DIMS))), _wide)
    history = random_history(problem, SCALE_TRIALS, 0)
    space = problem.space  # a property that builds the space: once, not in the timed loop
    start = time.perf_counter()
    for params, _ in history:
        space.encode(params)
    encode_seconds = time.perf_counter() - start
    lines = [
        f"| {SCALE_TRIALS:,} trials, {SCALE_DIMS} parameters | seconds kubetune "
        "(of which encoding the trials) | seconds Optuna |",
        "|---|---|---|",
    ]
    for method in ImportanceMethod:
        _, ours = kubetune_importance(problem, history, method, 0)
        theirs = "not run (minutes)"
        if method is ImportanceMethod.PED_ANOVA:
            theirs = f"{optuna_importance(problem, history, method, 0)[1]:.2f}"
        lines.append(f"| {method.value} | {ours:.2f} ({encode_seconds:.2f}) | {theirs} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--problems", nargs="*", default=list(DEFAULT_PROBLEMS))
    parser.add_argument("--no-scale", action="store_true", help="skip the 10,000-trial rows")
    parser.add_argument("--write", type=Path, help="put the tables into this markdown file")
    args = parser.parse_args(argv)
    problems = {**SYNTHETIC, **PROBLEMS}
    results = []
    for prefix in args.problems:
        name = next((n for n in problems if n.startswith(prefix)), prefix)
        if name not in problems:
            raise SystemExit(f"{prefix}: no such problem; known: {list(problems)}")
        for method in ImportanceMethod:
            results.append((name, method, measure(problems[name], method, args.trials, args.seeds)))
            print(table(results[-1:], args.trials).splitlines()[-1], flush=True)
    command = "nice -n 10 .venv/bin/python -m benchmarks.importance" + (
        f" --seeds {args.seeds}" if args.seeds != 5 else ""
    )
    section = (
        "## Parameter importance\n\n"
        f"Command: `{command}` — median over {args.seeds} seeds, one random-search history "
        "per seed scored by both; see docs/importance.md for how to read the numbers.\n\n"
        + table(results, args.trials)
    )
    if not args.no_scale:
        section += "\n" + scale_table()
    print(section)
    if args.write:
        replace_section(args.write, section + "\n", START, END)


if __name__ == "__main__":
    main()
