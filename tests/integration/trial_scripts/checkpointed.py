"""A trial that saves a checkpoint and, when told to, restores another trial's.

    python checkpointed.py --x X

Run under ``kubetune-runner``. It trains from step 0, or from the step of the checkpoint in
``KUBETUNE_RESTORE_FROM``, up to ``KUBETUNE_BUDGET`` (PBT hands each segment the cumulative
step it ends at; 1 without a budget), printing ``step=N loss=...``. It then writes
``state.json`` into ``KUBETUNE_CHECKPOINT_DIR``: its trial name, the step reached, the
directory it saved to, and — the point of the tests — the parent's ``state.json`` exactly
as it read it, so a test proves which checkpoint each trial started from.
"""

import argparse
import json
import os
from pathlib import Path

STATE = "state.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    args = parser.parse_args()
    save = Path(os.environ["KUBETUNE_CHECKPOINT_DIR"])
    restore = os.environ.get("KUBETUNE_RESTORE_FROM")
    parent = json.loads((Path(restore) / STATE).read_text()) if restore else None
    start = int(parent["step"]) if parent else 0
    end = int(float(os.environ.get("KUBETUNE_BUDGET", "1")))
    loss = args.x * args.x
    for step in range(start + 1, max(end, start + 1) + 1):
        loss = args.x * args.x + 1.0 / step
        print(f"step={step} loss={loss}", flush=True)
    save.mkdir(parents=True, exist_ok=True)
    state = {
        "trial": os.environ["KUBETUNE_TRIAL"],
        "step": max(end, start + 1),
        "saved_to": str(save),
        "restored_from": restore,
        "parent": parent,
    }
    (save / STATE).write_text(json.dumps(state))
    print(f"loss={loss}", flush=True)


if __name__ == "__main__":
    main()
