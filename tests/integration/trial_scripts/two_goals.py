"""A trial with two conflicting goals for the operator's multi-objective tests.

    python two_goals.py --x 0.5 [--seconds 1]

Prints Katib-style ``loss=...`` and ``cost=...`` lines: loss = x² and cost = (x - 1)², so
every x in [0, 1] is Pareto-optimal and no single trial is best at both.
"""

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    time.sleep(args.seconds)
    print(f"loss={args.x * args.x} cost={(args.x - 1) ** 2}", flush=True)


if __name__ == "__main__":
    main()
