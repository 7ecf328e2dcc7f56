"""Ray Tune running ``local_overhead.py``'s trial program, for its side-by-side table.

Runs in Ray's own virtualenv (``~/.cache/kubetune-ray-venv``; Ray pins its dependencies), is
started by ``local_overhead.py`` as a process, and prints one JSON line: ``seconds`` from
``Tuner.fit`` to its return, ``startup`` for importing Ray and ``ray.init`` before it, and the
number of trials that reported. Each trial does what a trial of the other rows does: it runs
``PYTHON trial.py --x=X`` with a random ``x`` and reports the ``loss`` the program printed;
``P`` at a time (``max_concurrent_trials`` on a ``P``-CPU Ray, one CPU per trial), with
``reuse_actors`` (without it each trial starts a Ray actor: seconds a trial on a loaded
2-core machine).

    ~/.cache/kubetune-ray-venv/bin/python benchmarks/local_overhead_ray.py FOLDER PYTHON \\
        --trials 100 --parallel 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

began = time.perf_counter()


def trainable_for(folder: str, python: str):  # type: ignore[no-untyped-def]
    from ray import tune

    def trainable(config: dict[str, float]) -> None:
        done = subprocess.run(
            [python, "trial.py", f"--x={config['x']}"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        tune.report({"loss": float(done.stdout.strip().rsplit("=", 1)[1])})

    return trainable


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", help="holds trial.py")
    parser.add_argument("python", help="the interpreter that runs trial.py")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune

    ray.init(num_cpus=args.parallel, include_dashboard=False, log_to_driver=False)
    ready = time.perf_counter()
    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            trainable_for(args.folder, args.python),
            param_space={"x": tune.uniform(0.0, 1.0)},
            tune_config=tune.TuneConfig(
                num_samples=args.trials,
                max_concurrent_trials=args.parallel,
                reuse_actors=True,  # Ray's setting for short trials: one actor per slot
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        results = tuner.fit()
        seconds = time.perf_counter() - ready
    reported = sum(1 for r in results if r.metrics and "loss" in r.metrics)
    ray.shutdown()
    print(json.dumps({"seconds": seconds, "startup": ready - began, "trials": reported}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
