"""Population-Based Training at equal compute: kubetune's ``pbt`` against random search,
kubetune's ``asha`` and Ray Tune's ``PopulationBasedTraining``.

A simulated cluster (no operator, no processes): ``--workers`` trials run at once and each
advances one training step per tick. kubetune's methods run through the real ``Planner`` —
the engine and algorithm a study uses — and a trial that restores a checkpoint
(``checkpoint.restoreFrom``) starts from the model the named trial ended with. Every method
gets the same compute: ``population × steps`` training steps in all (PBT's population trains
every step once; random search trains ``population`` full runs; ASHA spends the same steps on
more, shorter runs). Reported, median over seeds: the loss of the best model trained for
the full number of steps (lower is better), and how many trials that took.

Problems (``population_problems.py``): ``moving``, a toy whose best learning rate moves
during training (no fixed value stays good), and ``mlp``, an ``MLPClassifier`` on digits,
the model of ``examples/pbt-mlp.yaml``.

    nice .venv/bin/python benchmarks/population.py              # 7 seeds, both problems
    nice .venv/bin/python benchmarks/population.py --quick      # the toy, 3 seeds
    nice .venv/bin/python benchmarks/population.py --write-docs # and update docs/benchmarks.md

Ray Tune is a benchmark-only extra in a virtualenv of its own (it pins its own dependencies):
``python3 -m venv ~/.cache/kubetune-ray-venv && ~/.cache/kubetune-ray-venv/bin/pip install
'ray[tune]' numpy scikit-learn``; its rows are skipped when that interpreter (``--ray-python``)
is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population_problems import PROBLEMS, Problem

from kubetune.api.attributes import RESTORE_ATTRIBUTE
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner, TrialSnapshot
from kubetune.history import IntermediateValue
from kubetune.validation import parse_study

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"
START, END = "<!-- population:start -->", "<!-- population:end -->"
RAY_PYTHON = Path.home() / ".cache" / "kubetune-ray-venv" / "bin" / "python"
POPULATION = 8
WORKERS = 4
STUDY = "bench"


@dataclass
class Outcome:
    best: float
    """Loss of the best model trained the full number of steps."""
    trials: int
    seconds: float


def study(problem: Problem, algorithm: str, settings: dict[str, Any], max_trials: int) -> Any:
    document = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": STUDY},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": list(problem.parameters),
            "algorithm": {"name": algorithm, "settings": settings},
            "budget": {
                "maxTrials": max_trials,
                "parallelTrials": WORKERS,
                "resource": {"name": "steps", "min": problem.interval, "max": problem.steps},
            },
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["x"]}]}}}
            },
        },
    }
    return parse_study(document).spec


@dataclass
class _Live:
    model: Any
    step: int
    end: int


def simulate(problem: Problem, spec: Any, seed: int, compute: int) -> Outcome:
    """Drive ``spec`` through the planner until ``compute`` steps are spent or it ends."""
    began = time.perf_counter()
    spec = spec.model_copy(update={"seed": seed})
    planner = Planner(spec, STUDY)
    rng = np.random.default_rng(seed)
    trials: dict[int, TrialSnapshot] = {}
    live: dict[int, _Live] = {}
    saved: dict[int, Any] = {}
    spent, best = 0, float("inf")
    while spent < compute:
        decision = planner.decide(list(trials.values()))
        for stop in decision.stop:
            trials[stop.index] = _ended(trials[stop.index], TrialPhase.PRUNED)
            live.pop(stop.index)
        for new in decision.launch:
            source = new.attributes.get(RESTORE_ATTRIBUTE)
            model, step = saved[_index(source)] if source else (problem.start(seed), 0)
            end = int(new.budget) if new.budget is not None else problem.steps
            live[new.index] = _Live(model, step, end)
            trials[new.index] = TrialSnapshot(
                new.index, new.params, TrialPhase.RUNNING, budget=new.budget,
                attributes=new.attributes,
            )  # fmt: skip
        if decision.ending is not None or not live:
            break
        for index, run in list(live.items()):
            run.model = problem.train(run.model, trials[index].params)
            run.step += 1
            spent += 1
            loss = problem.loss(run.model, rng)
            trial = trials[index]
            point = IntermediateValue(run.step, {"loss": loss})
            trials[index] = TrialSnapshot(
                index, trial.params, TrialPhase.RUNNING, {"loss": loss},
                (*trial.intermediate, point), trial.budget, attributes=trial.attributes,
            )  # fmt: skip
            if run.step >= run.end:
                trials[index] = _ended(trials[index], TrialPhase.SUCCEEDED)
                saved[index] = (run.model, run.step)
                del live[index]
                if run.step >= problem.steps:
                    best = min(best, loss)
    return Outcome(best, len(trials), time.perf_counter() - began)


def _index(trial_name: object) -> int:
    """The index of a trial named ``<study>-<index>``."""
    return int(str(trial_name).rsplit("-", 1)[1])


def _ended(trial: TrialSnapshot, phase: TrialPhase) -> TrialSnapshot:
    return TrialSnapshot(
        trial.index, trial.params, phase, trial.values, trial.intermediate, trial.budget,
        attributes=trial.attributes,
    )  # fmt: skip


def kubetune_methods(problem: Problem) -> dict[str, Callable[[int], Outcome]]:
    compute = POPULATION * problem.steps
    segments = problem.steps // problem.interval
    pbt = {"populationSize": POPULATION, "perturbationInterval": problem.interval}
    specs = {
        "kubetune pbt": study(problem, "pbt", pbt, POPULATION * segments),
        "kubetune asha": study(problem, "asha", {}, 1000),
        "kubetune random": study(problem, "random", {}, POPULATION),
    }
    return {
        name: (lambda seed, spec=spec: simulate(problem, spec, seed, compute))
        for name, spec in specs.items()
    }


def ray_pbt(
    problem: Problem, seeds: list[int], ray_python: Path, saved: Path | None
) -> list[Outcome] | None:
    """Ray Tune's PopulationBasedTraining on the same problem, in Ray's own virtualenv; or
    the JSON line an earlier ``population_ray.py`` run printed (``saved``), since Ray takes
    minutes per seed."""
    if saved is not None:
        text = saved.read_text()
    elif ray_python.exists():
        command = [
            str(ray_python), str(HERE / "population_ray.py"), problem.name,
            "--population", str(POPULATION), "--workers", str(WORKERS),
            "--seeds", ",".join(map(str, seeds)),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"Ray Tune failed:\n{done.stderr[-3000:]}", file=sys.stderr)
            return None
        text = done.stdout
    else:
        return None
    rows = json.loads(text.strip().splitlines()[-1])
    return [Outcome(r["best"], r["trials"], r["seconds"]) for r in rows]


def benchmark(
    problem: Problem, seeds: list[int], ray_python: Path, ray_saved: Path | None = None
) -> str:
    results: dict[str, list[Outcome]] = {}
    for name, method in kubetune_methods(problem).items():
        results[name] = [method(seed) for seed in seeds]
        print(f"  {problem.name}: {name} done", file=sys.stderr, flush=True)
    ray = ray_pbt(problem, seeds, ray_python, ray_saved)
    if ray is not None:
        results[f"Ray Tune PopulationBasedTraining ({len(ray)} seeds)"] = ray
    compute = POPULATION * problem.steps
    lines = [
        f"**{problem.name}** — {compute} training steps per method (population {POPULATION} "
        f"× {problem.steps} steps, perturbation every {problem.interval}), {WORKERS} workers, "
        f"median of {len(seeds)} seeds:",
        "",
        "| method | best loss (median) | best loss (worst seed) | trials | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, outcomes in results.items():
        bests = [o.best for o in outcomes]
        lines.append(
            f"| {name} | {statistics.median(bests):.4g} | {max(bests):.4g} | "
            f"{statistics.median(o.trials for o in outcomes):g} | "
            f"{statistics.median(o.seconds for o in outcomes):.2f} |"
        )
    return "\n".join(lines) + "\n"


HANDOFF_PROGRAM = (
    "import time; started = time.time()\n"
    "import os, pathlib; from kubetune_runner import checkpoint_dir, report, restore_dir\n"
    "done = int((pathlib.Path(restore_dir()) / 'steps').read_text()) if restore_dir() else 0\n"
    "budget = int(os.environ['KUBETUNE_BUDGET'])\n"
    "report(step=budget, loss=1.0 / budget)\n"
    "(pathlib.Path(checkpoint_dir()) / 'steps').write_text(str(budget))\n"
    "own = pathlib.Path(os.environ['KUBETUNE_LOCAL_DIR'])\n"
    "(own / 'times').write_text(f'{started} {time.time()}')\n"
)
"""A segment that restores a step count, "trains" to its budget at once and saves it; it
writes when its program started and when it was done into its trial directory."""


def handoff(population: int = 4, segments: int = 10) -> str:
    """Seconds from a segment's end to its successor's start under ``kubetune run``: the
    time PBT spends handing a member on (a slot per member, so no successor waits for one)."""
    import tempfile

    from kubetune.local.backend import LocalOptions, LocalStudy

    document = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "handoff"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.1, "high": 1.0}],
            "algorithm": {"name": "pbt", "settings": {"populationSize": population}},
            "budget": {
                "maxTrials": population * segments,
                "parallelTrials": population,
                "resource": {"name": "steps", "min": 1, "max": segments},
            },
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "t", "command": [sys.executable, "-c", HANDOFF_PROGRAM]}
                            ]
                        }
                    }
                }
            },
        },
    }
    with tempfile.TemporaryDirectory() as state:
        study = LocalStudy(parse_study(document), LocalOptions(state_dir=Path(state)))
        study.open()
        study.run(lambda view: None)
        trials = {t.index: t for t in study.store.load_trials()}
        times = {
            i: [float(v) for v in (study.store.trial_dir(i) / "times").read_text().split()]
            for i in trials
        }
    gaps = [
        times[child.index][0] - times[parent][1]
        for child in trials.values()
        if isinstance(parent := child.attributes.get("pbt.parent"), int)
        and child.attributes.get("pbt.member") == trials[parent].attributes.get("pbt.member")
    ]
    ordered = sorted(gaps)
    return (
        f"Hand-off under `kubetune run` ({population} members × {segments} segments, a slot "
        f"per member, segments that continue their own member): from a segment's program "
        f"finishing to its successor's program starting (Python start-up included), median "
        f"{statistics.median(ordered) * 1000:.0f} ms, "
        f"90th percentile {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} hand-offs).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--problems", default="moving,mlp")
    parser.add_argument("--quick", action="store_true", help="the toy only, 3 seeds")
    parser.add_argument("--ray-python", type=Path, default=RAY_PYTHON)
    parser.add_argument(
        "--ray-results",
        action="append",
        default=[],
        metavar="PROBLEM=FILE",
        help="use what `population_ray.py PROBLEM` printed earlier instead of running Ray",
    )
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    names = ["moving"] if args.quick else args.problems.split(",")
    seeds = list(range(3 if args.quick else args.seeds))
    saved = {k: Path(v) for k, v in (item.split("=", 1) for item in args.ray_results)}
    text = "\n".join(
        benchmark(PROBLEMS[name], seeds, args.ray_python, saved.get(name)) for name in names
    )
    text += "\n" + handoff()
    print(text)
    if args.write_docs:
        docs = DOCS.read_text()
        head, _, rest = docs.partition(START)
        _, _, tail = rest.partition(END)
        DOCS.write_text(f"{head}{START}\n{text}{END}{tail}")


if __name__ == "__main__":
    main()
