"""Warm start: how many trials a study started from an earlier, related study needs.

For each problem, algorithm and seed: a *source* study runs ``--source-trials`` trials on a
shifted copy of the problem (its optimum moved by ``--shift`` of each parameter's range); a
*cold* study runs ``--trials`` trials on the problem itself; a *warm* study runs on the
problem with the source's trials as known history, exactly as the engine hands
``spec.warmStart`` trials to a suggester (completed records with negative indices, not
counted against the budget). The table reports, median over seeds, after how many of its
own trials the warm study's best reaches the cold study's best after 25, 50 and ``--trials``
trials (">N": never within N trials).

    nice -n 10 .venv/bin/python -m benchmarks.warm_start --seeds 3 --problems branin hartmann3

``--from FILE`` rebuilds the table from the result lines an earlier run printed.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.problems import OBJECTIVE, PROBLEMS, Problem  # noqa: E402
from kubetune.algorithms import create  # noqa: E402
from kubetune.history import History, TrialRecord, TrialState  # noqa: E402

DEFAULT_PROBLEMS = (
    "branin",
    "hartmann3",
    "hartmann6",
    "rosenbrock4",
    "levy6",
    "ackley5",
    "styblinski_tang5",
)
"""Every quality-suite problem ``shifted`` applies to: the synthetic functions (the
scikit-learn ones have log-scaled or categorical parameters a linear shift does not fit)."""
DEFAULT_ALGORITHMS = ("tpe", "bayesopt")
CHECKPOINTS = (25, 50, 100)
"""The cold study's best after this many trials is each column's target (the last: --trials)."""
SHIFT = 0.05
"""How far the source problem's optimum moves, as a fraction of each parameter's range."""


def shifted(problem: Problem, fraction: float) -> Callable[[Mapping[str, Any]], float]:
    """The problem with its landscape moved by ``fraction`` of each range (clipped at bounds)."""
    bounds = {s["name"]: (float(s["low"]), float(s["high"])) for s in problem.specs}

    def evaluate(params: Mapping[str, Any]) -> float:
        moved = {}
        for name, value in params.items():
            low, high = bounds[name]
            moved[name] = min(high, max(low, float(value) - fraction * (high - low)))
        return problem.evaluate(moved)

    return evaluate


def optimize(
    algorithm: str,
    problem: Problem,
    evaluate: Callable[[Mapping[str, Any]], float],
    trials: int,
    seed: int,
    warm: Sequence[TrialRecord] = (),
) -> list[TrialRecord]:
    """``trials`` trials of one study; ``warm`` records come first in every history."""
    suggester = create(algorithm, problem.space, {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        history = History((*warm, *records), (OBJECTIVE,))
        suggestions = suggester.suggest(history, 1)
        if not suggestions:
            break
        params = suggestions[0].params
        loss = evaluate(params)
        records.append(TrialRecord(len(records), params, TrialState.COMPLETE, {"loss": loss}))
    return records


def as_warm(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Another study's trials as warm-start history: indices -1, -2, ... never collide."""
    return [
        TrialRecord(-(i + 1), r.params, TrialState.COMPLETE, r.values)
        for i, r in enumerate(records)
    ]


def _job(args: tuple[str, str, int, int, int, float]) -> dict[str, Any]:
    algorithm, name, source_trials, trials, seed, shift = args
    problem = PROBLEMS[name]
    source = optimize(algorithm, problem, shifted(problem, shift), source_trials, seed + 1000)
    cold = optimize(algorithm, problem, problem.evaluate, trials, seed)
    warm = optimize(algorithm, problem, problem.evaluate, trials, seed, as_warm(source))
    checkpoints = [n for n in CHECKPOINTS if n < trials] + [trials]
    reached = {n: _reached(warm, min(r.values["loss"] for r in cold[:n])) for n in checkpoints}
    return {"algorithm": algorithm, "problem": name, "seed": seed, "reached": reached}


def _reached(records: Sequence[TrialRecord], target: float) -> int | None:
    """After how many trials ``records`` first reach ``target``, or None."""
    best = float("inf")
    for count, record in enumerate(records, start=1):
        best = min(best, record.values["loss"])
        if best <= target:
            return count
    return None


def table(results: Sequence[dict[str, Any]], trials: int, seeds: int) -> str:
    algorithms = list(dict.fromkeys(r["algorithm"] for r in results))
    problems = list(dict.fromkeys(r["problem"] for r in results))
    checkpoints = [n for n in CHECKPOINTS if n < trials] + [trials]
    header = [f"{a}: cold@{n}" for a in algorithms for n in checkpoints]
    lines = ["| problem | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for problem in problems:
        cells = []
        for algorithm in algorithms:
            runs = [r for r in results if r["problem"] == problem and r["algorithm"] == algorithm]
            for n in checkpoints:
                counts = [trials + 1 if r["reached"][n] is None else r["reached"][n] for r in runs]
                median = statistics.median(counts)
                reached = sum(count <= trials for count in counts)
                shown = f">{trials}" if median > trials else f"{median:g}"
                cells.append(f"{shown} ({reached}/{len(runs)})")
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    lines.append(
        "\nEach cell: trials the warm study needs to reach the cold study's best after N trials "
        f"(cold@N), median over {seeds} seeds (in brackets: seeds that reached it within "
        f"{trials}); >{trials}: not within {trials}. Fewer than N: the warm start saved trials."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(DEFAULT_PROBLEMS))
    parser.add_argument("--algorithms", nargs="+", default=list(DEFAULT_ALGORITHMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--source-trials", type=int, default=50)
    parser.add_argument("--shift", type=float, default=SHIFT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--from", dest="saved", type=Path, help="result lines of earlier runs")
    args = parser.parse_args(argv)
    if args.saved is not None:
        lines = args.saved.read_text().splitlines()
        saved = [ast.literal_eval(line) for line in lines if line.startswith("{")]
        print(table(saved, args.trials, len({r["seed"] for r in saved})))
        return
    jobs = [
        (algorithm, problem, args.source_trials, args.trials, seed, args.shift)
        for problem in args.problems
        for algorithm in args.algorithms
        for seed in range(args.seeds)
    ]
    results = []
    with ProcessPoolExecutor(args.workers) as pool:
        for result in pool.map(_job, jobs):  # printed as they come: a long run shows progress
            print(result, flush=True)
            results.append(result)
    print(table(results, args.trials, args.seeds))


if __name__ == "__main__":
    main()
