"""Suggestion latency: time per suggestion against history size, kubetune vs Optuna.

The history is synthetic: ``--sizes`` completed trials drawn uniformly at random on a
problem's space and evaluated (Hartmann6 by default). kubetune suggesters are timed on
``suggest(history, 1)``; Optuna samplers on ``study.ask()`` with the same trials added to
the study beforehand. Each cell is the median of ``--repeats`` calls, after one warm-up call;
the samplers take turns call by call, so load on a shared machine hits them alike.

    .venv/bin/python -m benchmarks.latency --sizes 100 500 --repeats 3      # smoke
    nice .venv/bin/python -m benchmarks.latency --write docs/benchmarks.md  # full
"""

from __future__ import annotations

import os

# One BLAS/torch thread per process, set before numpy loads (see quality.py).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.problems import (  # noqa: E402
    OBJECTIVE,
    PROBLEMS,
    Problem,
    _optuna_distributions,
    _optuna_sampler,
)
from kubetune.algorithms import create  # noqa: E402
from kubetune.history import History, TrialRecord, TrialState  # noqa: E402

START, END = "<!-- latency:start -->", "<!-- latency:end -->"


def synthetic(problem: Problem, size: int, seed: int = 0) -> list[tuple[dict[str, Any], float]]:
    rng = np.random.default_rng(seed)
    return [(p, problem.evaluate(p)) for p in problem.space.sample(rng, size)]


def kubetune_timer(algorithm: str, problem: Problem, trials: list[Any]) -> Callable[[], float]:
    records = tuple(
        TrialRecord(i, p, TrialState.COMPLETE, {"loss": v}) for i, (p, v) in enumerate(trials)
    )
    history = History(records, (OBJECTIVE,))
    suggester = create(algorithm, problem.space, {}, 0)

    def once() -> float:
        start = time.perf_counter()
        suggester.suggest(history, 1)
        return time.perf_counter() - start

    return once


def optuna_timer(sampler: str, problem: Problem, trials: list[Any]) -> Callable[[], float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    distributions = _optuna_distributions(problem)
    study = optuna.create_study(sampler=_optuna_sampler(sampler, 0))
    study.add_trials(
        [
            optuna.trial.create_trial(params=p, distributions=distributions, value=v)
            for p, v in trials
        ]
    )

    def once() -> float:
        start = time.perf_counter()
        trial = study.ask(distributions)
        elapsed = time.perf_counter() - start
        # Leave the history as it was: the asked trial is failed, which samplers ignore.
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return elapsed

    return once


def markdown(rows: dict[str, dict[int, float]], sizes: Sequence[int], command: str) -> str:
    lines = [
        "## Suggestion latency",
        "",
        "Median milliseconds per suggestion with a history of N completed trials "
        "(Hartmann6 unless the command says otherwise; one BLAS/torch thread).",
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
    parser.add_argument("--problem", default="hartmann6", choices=sorted(PROBLEMS))
    parser.add_argument("--sizes", nargs="*", type=int, default=[100, 500, 1000, 5000])
    parser.add_argument(
        "--samplers",
        nargs="*",
        default=["bayesopt", "tpe", "cmaes", "optuna-gp", "optuna-tpe", "optuna-cmaes"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--max-size",
        nargs="*",
        default=[],
        metavar="SAMPLER=N",
        help="skip sizes above N for a sampler (e.g. optuna-gp=1000) when it is too slow",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latency.json"))
    parser.add_argument("--write", type=Path, help="replace the latency section of this file")
    args = parser.parse_args(argv)

    caps = {k: int(v) for k, v in (item.split("=") for item in args.max_size)}
    problem = PROBLEMS[args.problem]
    histories = {n: synthetic(problem, n) for n in args.sizes}
    rows: dict[str, dict[int, float]] = {sampler: {} for sampler in args.samplers}
    for n in args.sizes:
        timers = {}
        for sampler in args.samplers:
            if n <= caps.get(sampler, n):
                make = optuna_timer if sampler.startswith("optuna-") else kubetune_timer
                timers[sampler] = make(sampler, problem, histories[n])
                timers[sampler]()  # warm-up: imports, caches
        # Interleaved rounds, so a burst of load on the shared machine hits every sampler.
        samples: dict[str, list[float]] = {sampler: [] for sampler in timers}
        for _ in range(args.repeats):
            for sampler, once in timers.items():
                samples[sampler].append(once())
        for sampler, values in samples.items():
            rows[sampler][n] = statistics.median(values)
            print(f"{sampler} N={n}: {rows[sampler][n] * 1e3:.1f} ms", file=sys.stderr, flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))
    command = "python -m benchmarks.latency " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, args.sizes, command.strip())
    print(text)
    if args.write:
        from benchmarks.quality import replace_section

        replace_section(args.write, text, START, END)


if __name__ == "__main__":
    main()
