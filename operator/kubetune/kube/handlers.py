"""kopf registration, and nothing else: login, start and stop of the controller.

kopf runs the process (signals, login, startup and cleanup hooks) and nothing more: the
watches are the controller's own threads (``watch.Watch``), because kopf's per-object event
machinery cost more CPU than every reconcile together once a study had thousands of trials.
So kopf stores no annotations and adds no finalizer; deleting a study is plain garbage
collection through ownerReferences. The work happens in ``controller.Controller``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kubetune.kube.controller import Controller
from kubetune.kube.settings import OperatorSettings


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        c = controller.credentials
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            insecure=not c.verify,
            certificate_path=c.cert_path,
            private_key_path=c.key_path,
            scheme="Bearer" if c.token else None,
            token=c.token,
        )

    @kopf.on.startup(registry=registry)
    async def start(**_: Any) -> None:
        await asyncio.to_thread(controller.start)  # kopf starts watching after this returns

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        await asyncio.to_thread(controller.stop)

    return registry


def kopf_settings(operator: OperatorSettings) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # our own Events say what matters; kopf's would be noise
    settings.peering.standalone = True  # leader election is ours (kube/leader.py), no CRDs
    return settings
