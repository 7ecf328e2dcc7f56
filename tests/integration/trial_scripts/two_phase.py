"""A trial that reports step 10, waits for a go file, then reports its final value at step 20.

    python two_phase.py X GO_FILE [GROUND_TRUTH_FILE]

loss is x² + 1 at step 10 and x² at step 20, so a trial scored from a partial report shows
the wrong value. With a ground-truth file, every reported line is also appended there.
"""

import pathlib
import sys
import time


def say(line: str, truth: "pathlib.Path | None") -> None:
    print(line, flush=True)
    if truth is not None:
        with truth.open("a") as file:
            file.write(line + "\n")


def main() -> None:
    x, go = float(sys.argv[1]), pathlib.Path(sys.argv[2])
    truth = pathlib.Path(sys.argv[3]) if len(sys.argv) > 3 else None
    say(f"step=10 loss={x * x + 1}", truth)
    while not go.exists():
        time.sleep(0.05)
    say(f"step=20 loss={x * x}", truth)


if __name__ == "__main__":
    main()
