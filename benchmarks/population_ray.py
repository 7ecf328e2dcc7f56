"""Ray Tune's PopulationBasedTraining on a ``population_problems`` problem, for
``population.py``. Runs in Ray's own virtualenv (see population.py), prints one JSON line:
per seed, the loss of the best model trained the full number of steps, the trials and the
seconds. The settings match kubetune's ``pbt`` in the benchmark: same population, workers,
perturbation interval, quantile (0.25), resample probability (0.25) and factors (0.8, 1.2).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population_problems import PROBLEMS, Problem


def space(problem: Problem) -> dict[str, Any]:
    from ray import tune

    return {p["name"]: tune.loguniform(p["low"], p["high"]) for p in problem.parameters}


def run(problem: Problem, seed: int, population: int, workers: int) -> dict[str, float]:
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    random.seed(seed)
    np.random.seed(seed)

    def trainable(config: dict[str, Any]) -> None:
        rng = np.random.default_rng([seed, random.getrandbits(32)])
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                model, step = pickle.loads((Path(directory) / "model.pkl").read_bytes())
        else:
            model, step = problem.start(seed), 0
        # One Ray iteration is one segment (perturbation_interval=1 below): Ray's per-report
        # overhead is paid once per segment, and PBT exploits only at segment ends.
        while step < problem.steps:
            for _ in range(min(problem.interval, problem.steps - step)):
                model = problem.train(model, config)
                step += 1
            loss = problem.loss(model, rng)
            with tempfile.TemporaryDirectory() as directory:
                (Path(directory) / "model.pkl").write_bytes(pickle.dumps((model, step)))
                tune.report(
                    {"loss": loss, "step": step},
                    checkpoint=tune.Checkpoint.from_directory(directory),
                )

    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        metric="loss",
        mode="min",
        perturbation_interval=1,
        hyperparam_mutations=space(problem),
        quantile_fraction=0.25,
        resample_probability=0.25,
        perturbation_factors=(1.2, 0.8),
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            trainable,
            param_space=space(problem),
            tune_config=tune.TuneConfig(
                scheduler=scheduler, num_samples=population, max_concurrent_trials=workers
            ),
            run_config=tune.RunConfig(
                stop={"step": problem.steps},
                storage_path=storage,
                verbose=0,
            ),
        )
        results = tuner.fit()
        finals = [
            r.metrics["loss"]
            for r in results
            if r.metrics and r.metrics.get("step", 0) >= problem.steps
        ]
    return {
        "best": min(finals) if finals else float("inf"),
        "trials": len(results),
        "seconds": time.perf_counter() - began,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("problem", choices=sorted(PROBLEMS))
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    here = str(Path(__file__).resolve().parent)
    ray.init(
        num_cpus=args.workers,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": here}},
    )
    problem = PROBLEMS[args.problem]
    rows = [
        run(problem, int(seed), args.population, args.workers) for seed in args.seeds.split(",")
    ]
    ray.shutdown()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
