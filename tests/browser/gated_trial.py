"""A trial for the browser test: reports a first step, then waits until the test opens the gate.

The test decides when trials finish, so it can watch a Running row turn Succeeded.
"""

import argparse
import pathlib
import time

from kubetune_runner import report, should_stop

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--gate", type=pathlib.Path, required=True)
args = parser.parse_args()

report(step=1, loss=args.x + 1.0)
while not args.gate.exists() and not should_stop():
    time.sleep(0.1)
report(step=2, loss=args.x)
