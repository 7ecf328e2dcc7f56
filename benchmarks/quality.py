"""Optimization quality: kubetune's suggesters against Optuna's samplers on known problems.

For each problem, sampler and seed the best loss after 50 and 100 trials is recorded; the
table reports the *normalized regret* (best - f*) / (random search's median best - f*),
median over seeds: 0 is the optimum, 1 is as good as random search. f* is the known optimum,
or for the scikit-learn problems the best value any run ever saw. ``--batch`` adds runs that
ask for 10 suggestions at a time (parallel trials) for the samplers named by
``--batch-samplers``. ``--compare ours=theirs`` adds a line counting the problems where one
sampler's regret is no worse than another's; ``--section`` and ``--title`` write the table to
its own section of the docs (e.g. the genetic algorithm against Optuna's).

    .venv/bin/python -m benchmarks.quality --seeds 2 --trials 30 --problems branin   # smoke
    nice .venv/bin/python -m benchmarks.quality --write docs/benchmarks.md           # full
    nice .venv/bin/python -m benchmarks.quality --samplers genetic tpe optuna-ga \
        --batch-samplers --trials 200 --checkpoints 100 200 --compare genetic=optuna-ga \
        --section genetic --title "Genetic search" --write docs/benchmarks.md      # genetic
"""

from __future__ import annotations

import os

# One BLAS/torch thread per process, set before numpy loads: on a small shared machine,
# threaded BLAS on 100x100 matrices is ~10x slower than single-threaded, for every sampler.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.problems import PROBLEMS, Problem, load_problem_file, run_sampler  # noqa: E402

DEFAULT_SAMPLERS = (
    "random",
    "bayesopt",
    "tpe",
    "cmaes",
    "optuna-random",
    "optuna-tpe",
    "optuna-gp",
    "optuna-cmaes",
)
CHECKPOINTS = (50, 100)  # trial counts the regret is reported at (or --trials if fewer)
SECTION = "quality"  # the name in the docs section's markers (see ``markers``)
TITLE = "Optimization quality"
COMPARISONS = ("bayesopt=optuna-gp",)


def _job(args: tuple[str, str, int, int, int, str | None]) -> dict[str, Any]:
    sampler, problem_name, trials, seed, batch, problem_file = args
    problem = load_problem_file(problem_file) if problem_file else PROBLEMS[problem_name]
    start = time.perf_counter()
    run = run_sampler(sampler, problem, trials, seed, batch)
    best = [min(run.losses[: i + 1]) for i in range(len(run.losses))]
    return {
        "sampler": sampler,
        "problem": problem.name,
        "seed": seed,
        "batch": batch,
        "best": best,
        "seconds": time.perf_counter() - start,
    }


def regret_table(
    results: list[dict[str, Any]], optima: dict[str, float], checkpoints: Sequence[int]
) -> dict[str, Any]:
    """Median normalized regret per (problem, sampler label, checkpoint)."""
    table: dict[str, Any] = {}
    problems = sorted({r["problem"] for r in results})
    for problem in problems:
        runs = [r for r in results if r["problem"] == problem]
        f_star = optima.get(problem, min(min(r["best"]) for r in runs))
        table[problem] = {}
        for checkpoint in checkpoints:
            reference = [
                r["best"][checkpoint - 1]
                for r in runs
                if r["sampler"] == "random" and r["batch"] == 1 and len(r["best"]) >= checkpoint
            ]
            if not reference:
                continue
            scale = statistics.median(reference) - f_star
            for label in sorted({_label(r) for r in runs}):
                values = [
                    (r["best"][checkpoint - 1] - f_star) / scale if scale > 0 else 0.0
                    for r in runs
                    if _label(r) == label and len(r["best"]) >= checkpoint
                ]
                if values:
                    table[problem].setdefault(label, {})[checkpoint] = statistics.median(values)
    return table


def _label(result: dict[str, Any]) -> str:
    return (
        result["sampler"]
        if result["batch"] == 1
        else f"{result['sampler']} (batch {result['batch']})"
    )


def markdown(
    table: dict[str, Any],
    command: str,
    seeds: int,
    note: str,
    checkpoints: Sequence[int],
    title: str = TITLE,
    comparisons: Sequence[str] = COMPARISONS,
) -> str:
    labels = sorted({label for row in table.values() for label in row}, key=_order)
    lines = [
        f"## {title}",
        "",
        "Median normalized regret over seeds, (best − f*) / (random search's median best − f*):",
        "0 = optimum found, 1 = no better than random search; each cell is "
        "`after " + " / after ".join(map(str, checkpoints)) + " trials`. Lower is better.",
        "",
        f"Command: `{command}` ({seeds} seeds). {note}".rstrip(),
        "",
        "| problem | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for problem, row in table.items():
        cells = [_cell(row.get(label, {}), checkpoints) for label in labels]
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    averages = []
    for label in labels:
        per_checkpoint = []
        for checkpoint in checkpoints:
            values = [
                row[label][checkpoint] for row in table.values() if checkpoint in row.get(label, {})
            ]
            per_checkpoint.append(statistics.mean(values) if len(values) == len(table) else None)
        averages.append(_cell(dict(zip(checkpoints, per_checkpoint, strict=True)), checkpoints))
    lines.append("| **average** | " + " | ".join(averages) + " |")
    for comparison in comparisons:
        ours, _, theirs = comparison.partition("=")
        if ours in labels and theirs in labels:
            lines.append("")
            lines += _no_worse_lines(table, ours, theirs, checkpoints)
    return "\n".join(lines) + "\n"


def _no_worse_lines(
    table: dict[str, Any], ours: str, theirs: str, checkpoints: Sequence[int]
) -> list[str]:
    """One sentence per checkpoint: on how many problems ``ours`` is no worse than ``theirs``."""
    lines = []
    for checkpoint in checkpoints:
        pairs = [
            (row[ours][checkpoint], row[theirs][checkpoint])
            for row in table.values()
            if checkpoint in row.get(ours, {}) and checkpoint in row.get(theirs, {})
        ]
        wins = sum(a <= b + 1e-12 for a, b in pairs)
        lines.append(
            f"{ours}'s regret is no worse than {theirs}'s on {wins} of {len(pairs)} problems "
            f"after {checkpoint} trials."
        )
    return lines


def _order(label: str) -> tuple[int, str]:
    return (label.startswith("optuna"), label)


def _cell(values: dict[int, float | None], checkpoints: Sequence[int]) -> str:
    return " / ".join("–" if values.get(c) is None else f"{values[c]:.3g}" for c in checkpoints)


def markers(section: str) -> tuple[str, str]:
    """The start and end comments that delimit a generated section of the docs."""
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


START, END = markers(SECTION)


def replace_section(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Put ``section`` between the markers (appended if absent); the rest stays as it is."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{section}{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def _run(jobs: list[Any], log: Path, workers: int, resume: bool) -> list[dict[str, Any]]:
    """Run the jobs not yet in the log (with ``resume``), appending each result as it ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    results = [json.loads(line) for line in log.read_text().splitlines()] if resume else []
    recorded = {
        (r["sampler"], r["problem"], len(r["best"]), r["seed"], r["batch"]) for r in results
    }
    jobs = [j for j in jobs if j[:5] not in recorded]
    with ProcessPoolExecutor(workers) as pool, log.open("a" if resume else "w") as out:
        for done, result in enumerate(pool.map(_job, jobs), 1):
            results.append(result)
            out.write(json.dumps(result) + "\n")
            out.flush()
            print(
                f"[{done}/{len(jobs)}] {result['problem']} {_label(result)} "
                f"seed {result['seed']}: best {result['best'][-1]:.5g} in {result['seconds']:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--problem-file", help="a module with SPACE, evaluate() and OPTIMUM")
    parser.add_argument("--samplers", nargs="*", default=list(DEFAULT_SAMPLERS))
    parser.add_argument("--batch", type=int, default=10, help="batch size of the batch runs")
    parser.add_argument("--batch-trials", type=int, help="trials of the batch runs (--trials)")
    parser.add_argument(
        "--batch-samplers",
        nargs="*",
        default=["bayesopt", "optuna-gp"],
        help="samplers also run in batch mode (none: skip batch runs)",
    )
    parser.add_argument(
        "--sampler-trials",
        nargs="*",
        default=[],
        metavar="SAMPLER=N",
        help="cap some samplers' trials (e.g. optuna-gp=50) when the full run is too slow",
    )
    parser.add_argument(
        "--sampler-seeds",
        nargs="*",
        default=[],
        metavar="SAMPLER=N",
        help="fewer seeds for some samplers (e.g. optuna-gp=5) when the full run is too slow",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/quality.json"))
    parser.add_argument("--write", type=Path, help="replace the quality section of this file")
    parser.add_argument("--note", default="", help="a sentence added under the command")
    parser.add_argument(
        "--checkpoints",
        nargs="*",
        type=int,
        default=list(CHECKPOINTS),
        help="trial counts the regret is reported at (those above --trials are dropped)",
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        default=list(COMPARISONS),
        metavar="OURS=THEIRS",
        help="count the problems where one sampler's regret is no worse than another's",
    )
    parser.add_argument("--section", default=SECTION, help="marker name of the docs section")
    parser.add_argument("--title", default=TITLE, help="heading of the docs section")
    parser.add_argument(
        "--render",
        nargs="*",
        type=Path,
        metavar="JSONL",
        help="no runs: build the table from these run logs (e.g. of runs split over processes)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse runs already recorded in the --json file's .jsonl log (same options)",
    )
    args = parser.parse_args(argv)

    caps = {k: int(v) for k, v in (item.split("=") for item in args.sampler_trials)}
    seed_caps = {k: int(v) for k, v in (item.split("=") for item in args.sampler_seeds)}
    problems: list[Problem] = (
        [load_problem_file(args.problem_file)]
        if args.problem_file
        else [PROBLEMS[name] for name in args.problems]
    )
    samplers = list(dict.fromkeys(["random", *args.samplers]))
    jobs = []
    for problem in problems:
        for sampler in samplers:
            for seed in range(min(args.seeds, seed_caps.get(sampler, args.seeds))):
                trials = min(args.trials, caps.get(sampler, args.trials))
                jobs.append((sampler, problem.name, trials, seed, 1, args.problem_file))
                if sampler in args.batch_samplers:
                    batch_trials = min(trials, args.batch_trials or trials)
                    jobs.append(
                        (sampler, problem.name, batch_trials, seed, args.batch, args.problem_file)
                    )
    # Slow samplers first so the pool's tail is short.
    jobs.sort(key=lambda j: (not j[0].endswith("gp"), j[0] != "bayesopt"))
    if args.render:
        results = [json.loads(line) for log in args.render for line in log.read_text().splitlines()]
        problems = [p for p in problems if any(r["problem"] == p.name for r in results)]
    else:
        results = _run(jobs, args.json.with_suffix(".jsonl"), args.jobs, args.resume)
    optima = {p.name: p.optimum for p in problems if p.optimum is not None}
    checkpoints = [c for c in args.checkpoints if c <= args.trials] or [args.trials]
    table = regret_table(results, optima, checkpoints)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    # The runs themselves are in the .jsonl log next to it.
    args.json.write_text(json.dumps(table, indent=1))
    command = "python -m benchmarks.quality " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(
        table, command.strip(), args.seeds, args.note, checkpoints, args.title, args.compare
    )
    print(text)
    if args.write:
        replace_section(args.write, text, *markers(args.section))


if __name__ == "__main__":
    main()
