"""A drop-in for the Katib SDK's ``report_metrics``, so Katib training code runs unchanged.

Katib's push collector has the program call ``kubeflow.katib.report_metrics({...})``, which
sends the values to Katib's DB manager. Under kubetune the same call should report to the
trial instead. Two ways, neither of which touches an installed ``kubeflow-katib``:

* change the import: ``from kubetune_runner.katib import report_metrics``;
* change nothing in the code and start it through this module:
  ``python -m kubetune_runner.katib train.py ARGS`` (or ``-m package.module ARGS``). That
  runs the program with ``kubeflow.katib.report_metrics`` pointing here: if the real SDK is
  installed, only that one function is replaced (``KatibClient`` and the rest stay the
  SDK's); if not, a minimal ``kubeflow.katib`` module with just ``report_metrics`` is
  provided in memory.

kubetune-runner ships no ``kubeflow`` package on purpose: files of that name would collide
with the real SDK's on install and shadow it for every program in the image.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import runpy
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

from kubetune_runner._api import report
from kubetune_runner._parse import STEP_KEYS

SDK_MODULE = "kubeflow.katib"
_calls = itertools.count()


def report_metrics(
    metrics: Mapping[str, Any],
    db_manager_address: str | None = None,
    timeout: float | None = None,
) -> None:
    """Report ``metrics`` to the kubetune trial, as Katib's push collector would to Katib.

    Values may be numbers or numeric strings (Katib stores them as strings). A ``step``,
    ``iteration`` or ``epoch`` value gives the step; without one each call is the next step
    (0, 1, 2, ...), as Katib orders pushed values by time, so early stopping still compares
    trials. ``db_manager_address`` and ``timeout`` are accepted for compatibility and unused.
    Raises ``ValueError`` naming a metric whose value is not a number.
    """
    values: dict[str, float] = {}
    step = None
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"report_metrics: {name}={value!r} is not a number") from None
        if name.lower() in STEP_KEYS and step is None:
            step = int(number) if number >= 0 and number == int(number) else None
        else:
            values[name] = number
    if not values:
        return
    call = next(_calls)
    report(step=step if step is not None else call, **values)


def install() -> None:
    """Make ``kubeflow.katib.report_metrics`` this module's, with or without the real SDK."""
    try:
        found = importlib.util.find_spec(SDK_MODULE) is not None
    except ImportError:  # no ``kubeflow`` package at all
        found = False
    if found:
        sdk = importlib.import_module(SDK_MODULE)
        sdk.report_metrics = report_metrics  # type: ignore[attr-defined]
        return
    parent = sys.modules.get("kubeflow") or types.ModuleType("kubeflow")
    if not hasattr(parent, "__path__"):
        parent.__path__ = []  # type: ignore[attr-defined]
    module = types.ModuleType(SDK_MODULE, "kubetune's stand-in: report_metrics only")
    module.report_metrics = report_metrics  # type: ignore[attr-defined]
    parent.katib = module  # type: ignore[attr-defined]
    sys.modules.setdefault("kubeflow", parent)
    sys.modules[SDK_MODULE] = module


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m kubetune_runner.katib SCRIPT [ARGS]`` or ``... -m MODULE [ARGS]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] == "-m" and len(args) < 2):
        raise SystemExit("usage: python -m kubetune_runner.katib (SCRIPT | -m MODULE) [ARGS...]")
    install()
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))  # as `python SCRIPT`
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    # Run as a script this file is ``__main__``; install the importable module's functions,
    # or the program would report through a second copy with its own step counter.
    from kubetune_runner import katib

    katib.main()
