"""A trial program for the local-backend tests: reports, sleeps, fails, on demand."""

import argparse
import sys
import time

from kubetune_runner import report, should_stop

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--steps", type=int, default=1)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--silent", action="store_true", help="never report the objective")
parser.add_argument("--print", action="store_true", help="print Katib lines instead of report()")
parser.add_argument("--fast-below", type=float, default=None, help="one step only if x is below")
args = parser.parse_args()
if args.fast_below is not None and args.x < args.fast_below:
    args.steps = 1

for step in range(1, args.steps + 1):
    time.sleep(args.sleep)
    if should_stop():
        print("asked to stop", flush=True)
        sys.exit(0)
    value = (args.x - 0.3) ** 2 + 1.0 / step
    if args.silent:
        report(step=step, other=value)
    elif args.print:
        print(f"step={step} loss={value}", flush=True)
    else:
        report(step=step, loss=value)
print(f"finished x={args.x}", flush=True)
if args.exit_code:
    print("something went wrong", file=sys.stderr, flush=True)
sys.exit(args.exit_code)
