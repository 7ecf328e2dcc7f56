"""A trial program that does everything a trial should not, then reports its loss.

Run under the wrapper (``kubetune-runner -- python hostile_trial.py``). It prints a 10 MB line
with no metric, a 10 MB line full of ``name=value`` pairs, thousands of distinct metrics,
NaN and infinite values, values of the wrong type, names longer than any Trial holds, and
reports through the API at a high rate; at the end it reports ``loss`` = 0.25 (what the
test expects as the trial's value). Everything it tried to report is written to
``$HOSTILE_RECORD`` (when set) so a test can compare.
"""

from __future__ import annotations

import math
import os
import sys

import kubetune_runner

LOSS = 0.25
DISTINCT_METRICS = 5000
RAPID_REPORTS = 3000
BIG_LINE_BYTES = 10 * 1024 * 1024


def main() -> None:
    out = sys.stdout
    out.write("x" * BIG_LINE_BYTES + "\n")  # a 10 MB line without any metric
    out.write(" ".join(f"m{i}={i}" for i in range(BIG_LINE_BYTES // 12)) + "\n")
    for i in range(DISTINCT_METRICS):
        out.write(f"metric_{i}={i}\n")
    out.write("loss=nan\nloss=inf\nloss=-inf\n")
    out.write("loss=abc accuracy=[1,2] step=x\n")
    out.write(f"{'n' * 5000}=1\n")
    out.flush()
    for step in range(RAPID_REPORTS):
        kubetune_runner.report(step=step, loss=1.0 + 1.0 / (step + 1), rate=float(step))
    for bad in ({"loss": "0.1"}, {"loss": True}, {"loss": math.nan}, {"": 1.0}, {"x" * 64: 1.0}):
        try:
            kubetune_runner.report(**bad)  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            print(f"refused as it should be: {error}", file=sys.stderr)
    kubetune_runner.report(step=RAPID_REPORTS, loss=LOSS)
    print(f"loss={LOSS}")
    record = os.environ.get("HOSTILE_RECORD")
    if record:
        with open(record, "w", encoding="utf-8") as file:
            file.write(f"{LOSS}\n")


if __name__ == "__main__":
    main()
