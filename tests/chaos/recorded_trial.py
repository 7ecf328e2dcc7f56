"""A chaos-test trial that keeps ground truth: what it ran and what it reported, in side files.

    python recorded_trial.py X TRUTH_DIR TRIAL [SECONDS]

Appends one line to ``TRUTH_DIR/TRIAL.runs`` when it starts (a program run twice for the
same trial shows two lines), prints ``loss=x²`` lines for ``kubetune-runner`` to report over
SECONDS, and appends each reported value to ``TRUTH_DIR/TRIAL.reported`` just before
printing it, so the last line there is the value the trial must end with.
"""

import os
import pathlib
import sys
import time


def append(path: pathlib.Path, line: str) -> None:
    with path.open("a") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


def main() -> None:
    x, truth, trial = float(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    append(truth / f"{trial}.runs", str(os.getpid()))
    steps = 3
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        value = x * x + (steps - step) / 10
        append(truth / f"{trial}.reported", repr(value))
        print(f"step={step} loss={value!r}", flush=True)


if __name__ == "__main__":
    main()
