"""Cluster mode: keep the trial's reports in memory and push them into the Trial's status.

The runner is the only writer of ``status.values``, ``status.intermediate`` and
``status.lastStep``, so it holds the whole current state and every merge patch carries all of
it: a later successful patch makes up for any number of failed ones, and nothing is lost
while the API server is restarting. A daemon thread does the sending, so ``report()`` only
updates memory and returns; it retries with exponential backoff and spaces patches by a
minimum interval so a loop reporting every millisecond costs the API server one patch a
second. Before its first patch the thread loads the Trial's existing status, so a restarted
pod adds to earlier reports instead of wiping them. ``flush()`` waits for delivery and runs
at interpreter exit.

A trial is never scored from a partial report. When the program ends well the final state
is first written as the container's termination message (``_termination``), which the
kubelet hands to the operator without this process calling the API; then delivery goes on
for up to ``KUBETUNE_DELIVERY_TIMEOUT_SECONDS`` (default 300), retrying at least every
``retry_max_seconds`` so it resumes within a second of the API answering again.
"""

from __future__ import annotations

import atexit
import math
import numbers
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from kubetune_runner import _termination
from kubetune_runner._bounded import BoundedSeries
from kubetune_runner._env import ClusterConfig
from kubetune_runner._kubeapi import ApiError, PermanentError, TransientError, TrialClient
from kubetune_runner._log import warn
from kubetune_runner._values import MetricNames, split_finite


@dataclass(frozen=True)
class ClusterSettings:
    """Timings of cluster mode. The defaults suit a real API server; tests shrink them."""

    request_timeout_seconds: float = 10.0
    """Longest a single status PATCH or initial GET may take."""
    stop_request_timeout_seconds: float = 3.0
    """Longest a ``should_stop()`` GET may hold up the training loop."""
    retry_initial_seconds: float = 0.25
    """First wait after a failed delivery; doubled after each further failure."""
    retry_max_seconds: float = 1.0
    """Cap of that wait, so delivery resumes within a second of the API server answering."""
    min_patch_interval_seconds: float = 1.0
    """Least time between two patches (``flush()`` skips it), bounding load on the API."""
    stop_cache_seconds: float = 2.0
    """``should_stop()`` answers from memory this long, so a loop may call it every step."""
    stop_poll_seconds: float = 5.0
    """How often the wrapper asks ``should_stop()`` while its program runs."""
    exit_flush_seconds: float | None = None
    """How long interpreter exit waits for undelivered reports; None: the configured
    ``KUBETUNE_DELIVERY_TIMEOUT_SECONDS``."""


class ClusterTransport:
    def __init__(self, config: ClusterConfig, settings: ClusterSettings | None = None) -> None:
        self.settings = settings or ClusterSettings()
        self.config = config
        self.delivery_timeout_seconds = (
            config.delivery_timeout_seconds
            if self.settings.exit_flush_seconds is None
            else self.settings.exit_flush_seconds
        )
        self.stop_poll_seconds = self.settings.stop_poll_seconds
        self._client = TrialClient(config, self.settings.request_timeout_seconds)
        self._cond = threading.Condition()
        self._values: dict[str, float] = {}
        self._non_finite: dict[str, str] = {}
        """Metrics whose latest report was NaN or infinite (``status.nonFiniteValues``)."""
        self._cleared: set[str] = set()
        """Metrics once non-finite and finite since: patched to null, which deletes them."""
        self._series = BoundedSeries(config.objectives)
        self._names = MetricNames([objective.metric for objective in config.objectives])
        self._last_step: int | None = None
        self._version = 0  # reports recorded so far
        self._delivered = 0  # reports the API server holds
        self._parked_at = -1  # a permanent error stopped retries of this version
        self._loaded = False
        self._flushing = 0
        self._closed = False
        self._retry_delay = 0.0  # > 0 while backing off
        self._retry_at = 0.0
        self._last_patch_at = -math.inf
        self._last_warning: str | None = None
        self._stop = False
        self._stop_checked_at = -math.inf
        self._thread = threading.Thread(
            target=self._deliver_forever, name="kubetune-runner-delivery", daemon=True
        )
        self._thread.start()
        atexit.register(self._flush_at_exit)

    # -- called by the training program ------------------------------------------------------

    def record(self, step: int | None, values: dict[str, float]) -> None:
        with self._cond:
            values = self._names.admit(values)
            if not values:
                return
            finite, non_finite = split_finite(values)
            self._values.update(finite)
            for name in finite.keys() & self._non_finite.keys():
                del self._non_finite[name]
                self._cleared.add(name)
            self._non_finite.update(non_finite)
            self._cleared -= non_finite.keys()
            if step is not None and finite:
                self._series.add(step, finite)
                self._last_step = step
            self._version += 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every report so far is delivered; False if it was not, in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._delivered < self._version and self._parked_at < self._version:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._cond.wait(remaining)
                return self._delivered >= self._version
            finally:
                self._flushing -= 1

    def should_stop(self) -> bool:
        with self._cond:
            if time.monotonic() - self._stop_checked_at < self.settings.stop_cache_seconds:
                return self._stop
            self._stop_checked_at = time.monotonic()  # failures are cached too
        try:
            trial = self._client.get(self.settings.stop_request_timeout_seconds)
        except ApiError as error:
            with self._cond:
                self._warn_once(f"cannot read the trial's stop flag: {error}")
                return self._stop
        with self._cond:
            self._stop = _stop_flag(trial)
            return self._stop

    def close(self, timeout: float | None = None, hand_over: bool = False) -> bool:
        """Flush, then end the delivery thread (tests and the wrapper; atexit otherwise).

        With ``hand_over`` (the program ended well) the final report is first written as
        the termination message. True when every report reached the Trial or was handed
        over that way.
        """
        done = self._finish(timeout, hand_over)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        atexit.unregister(self._flush_at_exit)
        return done

    def _finish(self, timeout: float | None, hand_over: bool) -> bool:
        handed = hand_over and self.hand_over(delivered=False)
        delivered = self.flush(timeout)
        if delivered and handed:
            self.hand_over(delivered=True)
        return delivered or handed

    def hand_over(self, delivered: bool) -> bool:
        """Write the final report as the termination message; False if there is nothing to
        write (no report) or nowhere to write it (not in a container)."""
        with self._cond:
            if self._version == 0:
                return False
            message = _termination.render(
                self._values,
                self._non_finite,
                self._last_step,
                self._version,
                delivered,
                [objective.metric for objective in self.config.objectives],
            )
        return _termination.write(self.config.termination_message_path, message)

    def status(self) -> dict[str, Any]:
        """The status fields this runner owns, as the next patch will carry them."""
        with self._cond:
            status: dict[str, Any] = {
                "values": dict(self._values),
                "intermediate": self._series.to_status(),
            }
            if self._non_finite or self._cleared:
                cleared: dict[str, str | None] = dict.fromkeys(self._cleared)
                status["nonFiniteValues"] = {**cleared, **self._non_finite}
            if self._last_step is not None:
                status["lastStep"] = self._last_step
            return status

    # -- the delivery thread -----------------------------------------------------------------

    def _deliver_forever(self) -> None:
        while True:
            with self._cond:
                delay = self._next_delivery_in()
                while delay != 0.0:
                    if self._closed:
                        return
                    self._cond.wait(delay)
                    delay = self._next_delivery_in()
            self._deliver_once()

    def _next_delivery_in(self) -> float | None:
        """Seconds until the next attempt; None when there is nothing to send."""
        pending = self._delivered < self._version and self._parked_at < self._version
        if self._closed or not pending:
            return None
        if self._retry_delay:
            not_before = self._retry_at  # flush() waits out a backoff too: it protects the API
        elif self._flushing:
            return 0.0
        else:
            not_before = self._last_patch_at + self.settings.min_patch_interval_seconds
        return max(0.0, not_before - time.monotonic())

    def _deliver_once(self) -> None:
        try:
            if not self._loaded:
                self._load()
            with self._cond:
                version, status = self._version, self.status()
            self._client.patch_status(status)
        except TransientError as error:
            with self._cond:
                if not self._retry_delay:
                    self._warn_once(f"{error}; retrying in the background")
                self._retry_delay = min(
                    self.settings.retry_max_seconds,
                    2 * self._retry_delay or self.settings.retry_initial_seconds,
                )
                self._retry_at = time.monotonic() + self._retry_delay
        except PermanentError as error:
            with self._cond:
                self._warn_once(f"{error}; reports are kept and retried on the next report()")
                self._parked_at = self._version
                self._retry_delay = 0.0
                self._cond.notify_all()
        else:
            with self._cond:
                self._delivered = max(self._delivered, version)
                self._retry_delay = 0.0
                self._last_patch_at = time.monotonic()
                if self._last_warning is not None:
                    warn("reports delivered to the Trial again")
                    self._last_warning = None
                self._cond.notify_all()

    def _load(self) -> None:
        """Adopt what an earlier run of this trial reported (a restarted pod, a retried Job)."""
        trial = self._client.get()
        status = trial.get("status") or {}
        with self._cond:
            old_values = self._names.admit(
                {name: v for name, v in (status.get("values") or {}).items() if _is_number(v)}
            )
            reported_here = self._values.keys() | self._non_finite.keys() | self._cleared
            self._values = {
                **{name: float(v) for name, v in old_values.items()},
                **self._values,
            }
            old_non_finite = status.get("nonFiniteValues") or {}
            self._non_finite.update(
                (name, str(v)) for name, v in old_non_finite.items() if name not in reported_here
            )
            self._series.add_older(
                (point["step"], {n: float(v) for n, v in point["values"].items() if _is_number(v)})
                for point in status.get("intermediate") or []
                if isinstance(point, dict)
                and _is_step(point.get("step"))
                and isinstance(point.get("values"), dict)
            )
            if self._last_step is None and _is_step(status.get("lastStep")):
                self._last_step = status["lastStep"]
            self._stop = _stop_flag(trial)
            self._loaded = True

    def _flush_at_exit(self) -> None:
        # An uncaught exception leaves the message empty, so the kubelet shows the log's end.
        if not self._finish(self.delivery_timeout_seconds, hand_over=not _crashed()):
            warn(
                "exiting with reports the Trial has not received and no termination message "
                "to hand them over (see the errors above)"
            )

    def _warn_once(self, message: str) -> None:
        if message != self._last_warning:
            warn(message)
            self._last_warning = message


def _crashed() -> bool:
    """Whether the interpreter is exiting because of an uncaught exception."""
    return getattr(sys, "last_value", None) is not None


def _stop_flag(trial: dict[str, Any]) -> bool:
    return bool((trial.get("spec") or {}).get("stop"))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
