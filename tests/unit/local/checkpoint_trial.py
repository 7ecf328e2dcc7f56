"""A trial program for the checkpoint tests: continues the state it restores, trains up to
its budget, saves, and records what it was given in its trial directory (``given.json``)."""

import argparse
import json
import os
import time
from pathlib import Path

from kubetune_runner import checkpoint_dir, params, report, restore_dir

parser = argparse.ArgumentParser()
parser.add_argument("--checkpoint-arg", default="")
parser.add_argument("--restore-arg", default="")
parser.add_argument("--save-nothing", action="store_true")
parser.add_argument("--sleep", type=float, default=0.0, help="seconds per step")
args = parser.parse_args()

trial = os.environ["KUBETUNE_TRIAL"]
source = restore_dir()
state = {"steps": 0, "trials": []}
if source:
    state = json.loads((Path(source) / "state.json").read_text())
budget = int(os.environ.get("KUBETUNE_BUDGET", "1"))
x = float(params()["x"])
while state["steps"] < budget:
    time.sleep(args.sleep)
    state["steps"] += 1
    report(step=state["steps"], loss=(x - 0.3) ** 2 + 1.0 / state["steps"])
state["trials"].append(trial)
saved = checkpoint_dir()
if saved and not args.save_nothing:
    (Path(saved) / "state.json").write_text(json.dumps(state))
given = {
    "checkpoint_dir": saved,
    "restore_dir": source,
    "checkpoint_arg": args.checkpoint_arg,
    "restore_arg": args.restore_arg,
    "state": state,
}
(Path(os.environ["KUBETUNE_LOCAL_DIR"]) / "given.json").write_text(json.dumps(given))
