"""Early stopping measured in compute saved: kubetune's rules and schedulers against no
stopping and Optuna's pruners, on replayed learning curves.

A simulated asynchronous cluster (no operator): ``--workers`` trials run at once, each
advances one resource unit (epoch) per tick and reports its metric, stop decisions are
applied every tick, and a free worker immediately gets a new trial. Every method spends the
same compute budget (resource units, i.e. epochs summed over trials). Reported, median over
seeds: compute spent until some trial *finished* within 1% of the best final score the space
holds, and the best finished score once the budget is spent.

    nice .venv/bin/python benchmarks/early_stopping.py            # full: 10 seeds, both problems
    nice .venv/bin/python benchmarks/early_stopping.py --quick    # one-minute smoke run

Optuna is a benchmark-only extra (``pip install -e '.[bench]'``); its rows are skipped without it.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from curves import CurveProblem, build_digits_cache, digits, synthetic

from kubetune import stopping
from kubetune.algorithms import ALGORITHMS, Suggester, create
from kubetune.api.study import Direction, Objective, ParameterSpec
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.space import SearchSpace

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- early-stopping:start -->", "<!-- early-stopping:end -->"
METRIC = "score"


@dataclass
class Outcome:
    to_target: float  # compute when a finished trial first came within 1% of the best; inf if never
    to_top: float  # compute when a finished trial first reached the space's top 5%; inf if never
    best: float  # best finished score within the budget
    trials: int
    seconds: float


@dataclass
class _Live:
    index: int
    params: dict[str, Any]
    curve: np.ndarray
    step: int = 0


class _Tracker:
    """Compute, the best finished score and when the target was first reached."""

    def __init__(self, problem: CurveProblem) -> None:
        self.target = problem.best_final - 0.01 * abs(problem.best_final)
        self.top = problem.top_final
        self.compute = 0
        self.best = -math.inf
        self.to_target = math.inf
        self.to_top = math.inf

    def finished(self, score: float) -> None:
        self.best = max(self.best, score)
        if score >= self.target and math.isinf(self.to_target):
            self.to_target = self.compute
        if score >= self.top and math.isinf(self.to_top):
            self.to_top = self.compute

    def outcome(self, trials: int, began: float) -> Outcome:
        return Outcome(self.to_target, self.to_top, self.best, trials, time.perf_counter() - began)


def run_kubetune(
    problem: CurveProblem,
    seed: int,
    budget: int,
    workers: int,
    algorithm: str,
    settings: Mapping[str, Any],
    rule: str = "none",
) -> Outcome:
    began = time.perf_counter()
    space = SearchSpace.from_specs([ParameterSpec.model_validate(p) for p in problem.parameters])
    suggester: Suggester = create(algorithm, space, settings, seed)
    stopper = stopping.create(rule, {})
    objective = Objective(metric=METRIC, direction=Direction.MAXIMIZE)
    records: dict[int, TrialRecord] = {}  # finished trials' records never change
    live: dict[int, _Live] = {}
    tracker = _Tracker(problem)

    def record(t: _Live, state: TrialState) -> TrialRecord:
        points = tuple(
            IntermediateValue(s + 1, {METRIC: float(v)}) for s, v in enumerate(t.curve[: t.step])
        )
        values = {METRIC: float(t.curve[t.step - 1])} if state is TrialState.COMPLETE else {}
        return TrialRecord(t.index, t.params, state, values, points, float(problem.max_resource))

    def history() -> History:
        running = {i: record(t, TrialState.RUNNING) for i, t in live.items()}
        trials = tuple(records.get(i) or running[i] for i in range(len(records) + len(live)))
        return History(trials, (objective,))

    while tracker.compute < budget:
        free = workers - len(live)
        if free:
            for suggestion in suggester.suggest(history(), free):
                index = len(records) + len(live)
                live[index] = _Live(index, suggestion.params, problem.curve(suggestion.params))
        for t in list(live.values()):
            t.step += 1
            tracker.compute += 1
            if t.step >= problem.max_resource:
                records[t.index] = record(t, TrialState.COMPLETE)
                tracker.finished(float(t.curve[-1]))
                del live[t.index]
        h = history()
        decisions = suggester.stops(h) + (stopper.decide(h) if stopper else [])
        for decision in decisions:
            t = live.pop(decision.index, None)
            if t is not None:
                records[t.index] = record(t, TrialState.PRUNED)
    return tracker.outcome(len(records) + len(live), began)


def run_optuna(problem: CurveProblem, seed: int, budget: int, workers: int, pruner: str) -> Outcome:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    began = time.perf_counter()
    pruners: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=problem.max_resource, reduction_factor=3
        ),
    }
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=pruners[pruner](),
    )
    tracker = _Tracker(problem)
    live: list[tuple[optuna.Trial, np.ndarray]] = []
    steps: dict[int, int] = {}
    count = 0
    while tracker.compute < budget:
        while len(live) < workers:
            trial = study.ask()
            params = {
                p["name"]: trial.suggest_float(
                    p["name"], p["low"], p["high"], log=p.get("log", False)
                )
                for p in problem.parameters
            }
            live.append((trial, problem.curve(params)))
            steps[trial.number] = 0
            count += 1
        for trial, curve in list(live):
            steps[trial.number] += 1
            step = steps[trial.number]
            tracker.compute += 1
            value = float(curve[step - 1])
            if step >= problem.max_resource:
                study.tell(trial, value)
                tracker.finished(value)
                live.remove((trial, curve))
                continue
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                live.remove((trial, curve))
    return tracker.outcome(count, began)


def methods(problem: CurveProblem) -> dict[str, Callable[[int, int, int], Outcome]]:
    resource = {"minResource": 1, "maxResource": problem.max_resource}
    model = "tpe" if "tpe" in ALGORITHMS else "bayesopt"
    table: dict[str, Callable[[int, int, int], Outcome]] = {
        "no stopping (random)": lambda s, b, w: run_kubetune(problem, s, b, w, "random", {}),
        "kubetune median (random)": lambda s, b, w: run_kubetune(
            problem, s, b, w, "random", {}, "median"
        ),
        "kubetune ASHA (random)": lambda s, b, w: run_kubetune(problem, s, b, w, "asha", resource),
        "kubetune Hyperband (random)": lambda s, b, w: run_kubetune(
            problem, s, b, w, "hyperband", resource
        ),
        f"kubetune ASHA ({model})": lambda s, b, w: run_kubetune(
            problem, s, b, w, "asha", {**resource, "sampler": model}
        ),
        f"kubetune Hyperband ({model})": lambda s, b, w: run_kubetune(
            problem, s, b, w, "hyperband", {**resource, "sampler": model}
        ),
    }
    try:
        import optuna  # noqa: F401
    except ImportError:
        return table
    table["Optuna MedianPruner (random)"] = lambda s, b, w: run_optuna(problem, s, b, w, "median")
    table["Optuna HyperbandPruner (random)"] = lambda s, b, w: run_optuna(
        problem, s, b, w, "hyperband"
    )
    return table


def _median(values: list[float]) -> float:
    return float(np.median(values))  # inf (never reached) sorts last, as it should


def benchmark(
    problem: CurveProblem,
    seeds: int,
    budget_trials: int,
    workers: int,
    skip: re.Pattern[str] | None,
) -> list[str]:
    budget = budget_trials * problem.max_resource
    rows = []
    baselines: tuple[float, float] = (math.nan, math.nan)
    for name, run in methods(problem).items():
        if skip and skip.search(name):
            continue
        outcomes = [run(seed, budget, workers) for seed in range(seeds)]
        medians = (
            _median([o.to_target for o in outcomes]),
            _median([o.to_top for o in outcomes]),
        )
        if name.startswith("no stopping"):
            baselines = medians
        cells = []
        for median, baseline, reached in zip(
            medians,
            baselines,
            (
                sum(math.isfinite(o.to_target) for o in outcomes),
                sum(math.isfinite(o.to_top) for o in outcomes),
            ),
            strict=True,
        ):
            saved = f"{baseline / median:.1f}×" if math.isfinite(median) else "—"
            compute = f"> {budget}" if math.isinf(median) else f"{median:.0f}"
            cells.append(f"{compute} ({saved}, {reached}/{seeds})")
        rows.append(
            f"| {name} | {' | '.join(cells)} | {_median([o.best for o in outcomes]):.4f} | "
            f"{_median([o.trials for o in outcomes]):.0f} | "
            f"{_median([o.seconds for o in outcomes]):.1f} |"
        )
        print(rows[-1], flush=True)
    return rows


HEADER = (
    "| method | compute to within 1% of the best | compute to a top-5% config | best score "
    "at the budget | trials started | seconds per run |\n"
    "|---|---|---|---|---|---|"
)
LEGEND = (
    "Compute cells: median resource units until a trial *finished* at that level (how many "
    "times less than no stopping; seeds that got there within the budget)."
    " The digits grid is easy at the 1% level — 17% of its configurations finish within 1% of"
    " the best, so random search needs about four full trainings and no scheduler can be much"
    " faster; the synthetic family (5% within 1%; early leaders are not the final ones) is"
    " the real test."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, small budget: a smoke run")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4, help="parallel trials")
    parser.add_argument("--skip", help="regex of method names to leave out")
    parser.add_argument("--rebuild-curves", action="store_true", help="retrain the digits curves")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.rebuild_curves:
        build_digits_cache()
    seeds = 3 if args.quick else args.seeds
    skip = re.compile(args.skip) if args.skip else None
    command = "nice .venv/bin/python benchmarks/early_stopping.py " + " ".join(sys.argv[1:])
    sections = [
        f"Command: `{command.strip()}` — {args.workers} parallel trials, median over "
        f"{seeds} seeds; compute is resource units (epochs) summed over all trials."
    ]
    for problem, budget_trials in (
        (digits(), 12 if args.quick else 40),
        (synthetic(), 12 if args.quick else 40),
    ):
        title = (
            f"**{problem.name}** — resource 1..{problem.max_resource}, budget "
            f"{budget_trials} full trainings ({budget_trials * problem.max_resource} units), "
            f"best final score in the space {problem.best_final:.4f}, top 5% from "
            f"{problem.top_final:.4f}"
        )
        print(title)
        print(HEADER)
        rows = benchmark(problem, seeds, budget_trials, args.workers, skip)
        sections.append("\n".join([title, "", HEADER, *rows]))
    sections.append(LEGEND)
    if not args.no_docs:
        _write_docs("\n\n".join(sections))


def _write_docs(text: str) -> None:
    block = f"{START}\n## Early stopping\n\n{text}\n{END}"
    current = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        current = before + block + after
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(current)


if __name__ == "__main__":
    main()
