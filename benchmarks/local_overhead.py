"""Local orchestration overhead: ``kubetune run`` against the same programs run without it.

N trials of a trivial program (sleeps ``--seconds``, prints one metric) at parallel P, timed
as wall time from start to the last trial's end, against:

- the ideal wall time ``N * t / P`` (nothing but the sleeps);
- ``xargs -P`` running the bare program (``python trial.py``), N times;
- ``xargs -P`` running the exact command a trial runs (``kubetune-runner -- python trial.py``,
  reporting into a scratch directory): the same work as ``kubetune run`` minus orchestration;
- a plain Optuna loop (``study.optimize(n_jobs=P)``) whose objective runs the bare program
  and parses its output, when optuna is importable;
- Ray Tune, when importable (it is not installed here: the row says so).

"overhead" is against the ideal; "vs xargs+runner" is what kubetune's orchestration adds to
the same commands. Each cell is the median of ``--repeats`` runs; the modes take turns, so
load on a shared machine hits them alike.

    .venv/bin/python -m benchmarks.local_overhead --trials 40 --repeats 1              # smoke
    nice .venv/bin/python -m benchmarks.local_overhead --write docs/benchmarks.md      # full
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

START, END = "<!-- local-overhead:start -->", "<!-- local-overhead:end -->"
BIN = Path(sys.executable).parent

PROGRAM = """\
import sys, time
time.sleep({seconds})
x = float(sys.argv[1].split("=", 1)[1]) if len(sys.argv) > 1 else 0.5
print(f"loss={{(x - 0.3) ** 2}}", flush=True)
"""

STUDY = """\
apiVersion: kubetune.dev/v1alpha1
kind: TuningStudy
metadata: {{name: overhead}}
spec:
  objective: {{metric: loss, direction: minimize}}
  parameters: [{{name: x, type: float, low: 0.0, high: 1.0}}]
  algorithm: {{name: random}}
  budget: {{maxTrials: {trials}, parallelTrials: {parallel}, maxFailedTrials: {trials}}}
  seed: 1
  trialTemplate:
    job:
      template:
        spec:
          containers:
            - name: train
              image: none
              command: [kubetune-runner, --, python, trial.py]
              args: ["--x=${{params.x}}"]
"""


def timed(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def kubetune_run(folder: Path, trials: int, parallel: int) -> float:
    state = Path(tempfile.mkdtemp(dir=folder))
    command = [str(BIN / "kubetune"), "run", "study.yaml", "--state-dir", str(state), "--fresh"]
    return timed(command, folder)


def xargs(folder: Path, trials: int, parallel: int, runner: bool) -> float:
    scratch = Path(tempfile.mkdtemp(dir=folder))
    wrap = f"env KUBETUNE_LOCAL_DIR={scratch}/{{}} {BIN}/kubetune-runner -- " if runner else ""
    line = f"mkdir -p {scratch}/{{}} && {wrap}{BIN}/python trial.py --x=0.5"
    script = f"seq {trials} | xargs -P {parallel} -I{{}} sh -c '{line}'"
    return timed(["sh", "-c", script], folder)


def optuna_loop(folder: Path, trials: int, parallel: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        done = subprocess.run(
            [str(BIN / "python"), "trial.py", f"--x={x}"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip().rsplit("=", 1)[1])

    start = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=trials, n_jobs=parallel)
    return time.perf_counter() - start


def modes(folder: Path, trials: int, parallel: int) -> dict[str, Callable[[], float] | None]:
    """Each way of running the trials; None where the tool is not installed."""
    has_optuna = importlib.util.find_spec("optuna") is not None
    return {
        "xargs -P (bare program)": lambda: xargs(folder, trials, parallel, runner=False),
        "xargs -P (kubetune-runner + program)": lambda: xargs(folder, trials, parallel, True),
        "Optuna loop, n_jobs=P (bare program)": (
            (lambda: optuna_loop(folder, trials, parallel)) if has_optuna else None
        ),
        "Ray Tune": None,  # not installed here; see the note under the table
        "kubetune run": lambda: kubetune_run(folder, trials, parallel),
    }


def measure(
    trials: int, parallel: int, seconds: float, repeats: int, keep: Callable[[str], bool]
) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="kubetune-overhead-") as name:
        folder = Path(name)
        (folder / "trial.py").write_text(PROGRAM.format(seconds=seconds))
        (folder / "study.yaml").write_text(STUDY.format(trials=trials, parallel=parallel))
        runs = {m: r for m, r in modes(folder, trials, parallel).items() if keep(m)}
        times: dict[str, list[float]] = {mode: [] for mode in runs}
        for _ in range(repeats):
            for mode, run in runs.items():
                if run is not None:
                    times[mode].append(run())
                    print(f"  {mode}: {times[mode][-1]:.1f} s", file=sys.stderr, flush=True)
    return {mode: statistics.median(t) if t else None for mode, t in times.items()}


def markdown(
    results: dict[str, float | None], trials: int, parallel: int, seconds: float, command: str
) -> str:
    ideal = trials * seconds / parallel
    same_work = results.get("xargs -P (kubetune-runner + program)")
    lines = [
        "## Local orchestration overhead",
        "",
        f"{trials} trials of a program that sleeps {seconds} s and prints one metric, "
        f"{parallel} at a time; wall time from start to the last trial's end (median of the "
        "runs). Ideal: N × t ÷ P.",
        "",
        "| how | wall time (s) | over ideal | over xargs + runner | per trial (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| ideal (N × t ÷ P) | {ideal:.1f} | – | – | – |",
    ]
    for mode, wall in results.items():
        if wall is None:
            lines.append(f"| {mode} | not installed | | | |")
            continue
        over = f"{100 * (wall / ideal - 1):+.1f}%"
        versus = f"{100 * (wall / same_work - 1):+.1f}%" if same_work else "–"
        per_trial = 1000 * (wall - ideal) * parallel / trials
        lines.append(f"| {mode} | {wall:.1f} | {over} | {versus} | {per_trial:.0f} |")
    lines += ["", "```", command, "```", ""]
    return "\n".join(lines)


def replace_section(path: Path, text: str) -> None:
    content = path.read_text()
    block = f"{START}\n{text}{END}"
    if START in content:
        before, rest = content.split(START, 1)
        content = before + block + rest.split(END, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(content)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=0.5, help="how long each trial sleeps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="run only the modes whose name contains this text")
    parser.add_argument("--write", type=Path, help="replace the overhead section of this file")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
    keep: Callable[[str], bool] = lambda mode: args.only is None or args.only in mode  # noqa: E731
    results = measure(args.trials, args.parallel, args.seconds, args.repeats, keep)
    command = "python -m benchmarks.local_overhead " + " ".join(sys.argv[1:])
    text = markdown(results, args.trials, args.parallel, args.seconds, command)
    print(text)
    if args.write:
        replace_section(args.write, text)


if __name__ == "__main__":
    main()
