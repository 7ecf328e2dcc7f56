"""The public functions, and the one transport per process they share.

The transport is chosen from the environment on first use (see ``_env``): local mode appends
to files the laptop backend reads, cluster mode patches the Trial's status. Choosing lazily
lets a program import ``kubetune_runner`` unconditionally and still run outside a trial, as
long as it does not report. The cluster transport (``http.client``, ``ssl``, ``email``: most
of the runner's import time) is imported only when the environment asks for it, so a local
trial's wrapper starts in a fraction of the time.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Union

from kubetune_runner import _env
from kubetune_runner._local import LocalTransport
from kubetune_runner._values import check_metrics, check_step

if TYPE_CHECKING:
    from kubetune_runner._cluster import ClusterTransport

Transport = Union[LocalTransport, "ClusterTransport"]

_lock = threading.Lock()
_transport: Transport | None = None


def current_transport() -> Transport:
    """The process's transport, made on first use from the environment."""
    global _transport
    with _lock:
        if _transport is None:
            config = _env.transport_config()
            if isinstance(config, _env.LocalConfig):
                objectives = [objective.metric for objective in _env.objectives()]
                _transport = LocalTransport(config.directory, objectives)
            else:
                from kubetune_runner._cluster import ClusterTransport

                _transport = ClusterTransport(config)
        return _transport


def checkpoint_dir() -> str | None:
    """Where this trial saves its checkpoint (``KUBETUNE_CHECKPOINT_DIR``), or None when the
    study keeps none. A directory on a laptop or a mounted volume; a URI prefix (``s3://…``)
    when the cluster hands checkpoints to the program's own storage code. Save here so a
    later trial (PBT's next segment, or a member that exploits this one) can restore it."""
    return _env.checkpoint_dir()


def restore_dir() -> str | None:
    """The checkpoint to start from (``KUBETUNE_RESTORE_FROM``), or None to start fresh."""
    return _env.restore_from()


def params() -> dict[str, Any]:
    """The trial's parameters (``KUBETUNE_PARAMS``), e.g. ``{"lr": 0.01}``."""
    return _env.params()


def report(step: int | None = None, **metrics: float) -> None:
    """Report metric values, e.g. ``report(step=3, val_accuracy=0.91, loss=0.2)``.

    Each metric's latest value becomes the trial's value; with a ``step`` (an int >= 0) the
    values are also an intermediate point, which early-stopping rules compare across trials.
    Returns at once: in a cluster the values are sent in the background and never lost to a
    temporary API outage. Raises ``TypeError``/``ValueError`` for non-numbers, booleans, NaN
    and infinities, and ``RuntimeError`` when the process is not running as a trial.
    """
    values = check_metrics(metrics)
    current_transport().record(check_step(step), values)


def should_stop() -> bool:
    """Whether the trial was asked to end (pruned by early stopping, or the study is over).

    Cheap enough to call every step: in a cluster the answer is cached for a few seconds,
    and a failed check returns the last known answer instead of raising.
    """
    return current_transport().should_stop()


def flush(timeout: float | None = 30.0) -> bool:
    """Wait until every report so far is delivered, at most ``timeout`` seconds (None: no
    limit). Returns whether everything was delivered. Runs by itself at interpreter exit."""
    return current_transport().flush(timeout)
