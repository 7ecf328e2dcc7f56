"""Cost of a study's summary with several objectives and a constraint, per reconcile.

The operator recomputes the summary (feasibility, Pareto front, exact hypervolume) on every
reconcile of a study, and ``kubetune run`` on every refresh of its panel, so its cost bounds
how often either can look. This times ``kubetune.summary.summarize`` on synthetic succeeded
trials: objective values uniform on the positive orthant of a sphere (every point lies on
the front, the worst case for the hypervolume) or uniform in a cube (a small front, the
usual case), with one constraint that a tenth of the trials break.

    .venv/bin/python -m benchmarks.summary_front [--repeats 3]

Not a test: it prints a table of the median time of a summary whose front is new (nothing
cached) and of the same summary again (the hypervolume remembered). Above the sizes in
``kubetune.summary.EXACT_HYPERVOLUME_FRONT`` no hypervolume is computed ("-").
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.record import RecordedTrial
from kubetune.summary import _cached_hypervolume, summarize

TRIALS = (100, 1_000, 5_000)
OBJECTIVES = (2, 3, 4)
SHAPES = ("cube", "sphere")


def spec(objectives: int) -> StudySpec:
    document: dict[str, Any] = {
        "objectives": [{"metric": f"f{k}", "direction": "minimize"} for k in range(objectives)],
        "metrics": ["latency"],
        "constraints": [{"metric": "latency", "max": 0.9}],
        "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
    }
    return StudySpec.model_validate(document)


def trials(count: int, objectives: int, shape: str, seed: int) -> list[RecordedTrial]:
    rng = np.random.default_rng(seed)
    points = rng.random((count, objectives))
    if shape == "sphere":
        points = np.abs(rng.normal(size=(count, objectives)))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    latency = rng.random(count)
    return [
        RecordedTrial(
            i,
            {"x": 0.5},
            TrialPhase.SUCCEEDED,
            values={**{f"f{k}": float(v) for k, v in enumerate(row)}, "latency": float(lat)},
        )
        for i, (row, lat) in enumerate(zip(points, latency, strict=True))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| trials | objectives | values | front size | hypervolume | ms, new front | ms, again |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for count in TRIALS:
        for objectives in OBJECTIVES:
            for shape in SHAPES:
                study, observed = spec(objectives), trials(count, objectives, shape, seed=count)
                first, again = [], []
                for _ in range(args.repeats):
                    _cached_hypervolume.cache_clear()
                    for times in (first, again):
                        started = time.perf_counter()
                        summary = summarize(study, observed)
                        times.append(time.perf_counter() - started)
                volume = "-" if summary.hypervolume is None else f"{summary.hypervolume:.4g}"
                print(
                    f"| {count} | {objectives} | {shape} | {summary.front_size} | {volume} | "
                    f"{1000 * statistics.median(first):.1f} | "
                    f"{1000 * statistics.median(again):.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
