"""A trial for the operator's integration tests: loss = x², with knobs for every path.

    python quadratic.py --x 0.5 [--seconds 1] [--steps 3] [--fail-above 1.5] [--no-report]

It prints Katib-style ``loss=...`` lines that ``kubetune-runner`` reports, sleeps so that
trials overlap, exits 3 when ``|x| > --fail-above`` and prints nothing to report with
``--no-report`` (a trial that "forgot" its metric).
"""

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--fail-above", type=float, default=None)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--quick-below",
        type=float,
        default=None,
        help="finish at once when |x| is below this (goal-reaching trials)",
    )
    args = parser.parse_args()
    loss = args.x * args.x
    if args.fail_above is not None and abs(args.x) > args.fail_above:
        raise SystemExit(3)
    seconds = args.seconds
    if args.quick_below is not None and abs(args.x) < args.quick_below:
        seconds = 0.0
    for step in range(1, args.steps + 1):
        time.sleep(seconds / args.steps)
        if not args.no_report:
            print(f"step={step} loss={loss + 1.0 / step - 1.0 / args.steps}", flush=True)
    if not args.no_report:
        print(f"loss={loss}", flush=True)


if __name__ == "__main__":
    main()
