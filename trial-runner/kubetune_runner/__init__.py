"""Report a kubetune trial's metrics from inside the training program, with no dependencies.

    from kubetune_runner import params, report, should_stop

    lr = params()["lr"]
    for epoch in range(100):
        ...
        report(step=epoch, val_accuracy=accuracy)
        if should_stop():
            break

The same calls work in a cluster (they patch the trial's ``Trial`` status with the pod's
service account) and on a laptop under ``kubetune run`` (they append to the trial directory).
Programs that only print metrics need no code at all: run them under the
``kubetune-runner -- CMD`` wrapper (``kubetune_runner.cli``).
"""

from kubetune_runner._api import (
    checkpoint_dir,
    flush,
    params,
    report,
    restore_dir,
    should_stop,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "checkpoint_dir",
    "flush",
    "params",
    "report",
    "restore_dir",
    "should_stop",
]
