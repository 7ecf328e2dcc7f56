"""The Kubernetes operator: the only package that talks to the Kubernetes API.

``kubetune operator`` runs kopf embedded for the process's life cycle (``handlers``);
``controller`` watches (``watch``), queues studies and reconciles them on worker threads
(``reconciler``), from a watch cache (``cache``), through the pure engine. Observing is pure
(``observe``, ``plans``, ``trial_status``, ``study_status``; ``objects`` renders Trials and
Jobs), acting is ``actions`` (every API call a reconcile makes), and ``leader`` keeps two
replicas from both acting. Importing this package is cheap: kopf is imported only when the
operator runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from kubetune.kube.settings import OperatorSettings, add_arguments, from_arguments

__all__ = ["OperatorSettings", "add_operator_arguments", "run", "run_operator"]


def add_operator_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser)


def run_operator(args: argparse.Namespace) -> int:
    """The ``kubetune operator`` subcommand."""
    return run(from_arguments(args))


def run(settings: OperatorSettings) -> int:
    """Run the operator until SIGTERM/SIGINT; 1 if it cannot start (the reason on stderr)."""
    import kopf

    from kubetune.kube.controller import Controller, StartError
    from kubetune.kube.handlers import build_registry, kopf_settings

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    kopf_level = max(logging.getLogger().level + 10, logging.WARNING)
    logging.getLogger("kopf").setLevel(kopf_level)
    try:
        controller = Controller(settings)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    kopf.run(
        registry=build_registry(controller),
        settings=kopf_settings(settings),
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
    )
    return 0
