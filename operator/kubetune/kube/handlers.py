"""kopf registration, and nothing else: which resources are watched, and where events go.

Only ``@kopf.on.event`` handlers are used. They are silent observers: kopf stores no
progress or diff-base annotations for them and adds no finalizer, so the operator writes
nothing onto Trials at watch rate and deleting a study is plain garbage collection through
ownerReferences. The work happens in ``controller.Controller``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kubetune.api.study import GROUP, STUDY_LABEL, VERSION
from kubetune.kube.cache import Kind
from kubetune.kube.controller import Controller
from kubetune.kube.settings import OperatorSettings


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    owned = {STUDY_LABEL: kopf.PRESENT}

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

    @kopf.on.event(GROUP, VERSION, "tuningstudies", registry=registry)
    async def study_event(event: Any, **_: Any) -> None:
        controller.observe(Kind.STUDY, event)

    @kopf.on.event(GROUP, VERSION, "trials", labels=owned, registry=registry)
    async def trial_event(event: Any, **_: Any) -> None:
        controller.observe(Kind.TRIAL, event)

    @kopf.on.event("batch", "v1", "jobs", labels=owned, registry=registry)
    async def job_event(event: Any, **_: Any) -> None:
        controller.observe(Kind.JOB, event)

    @kopf.on.event("", "v1", "pods", labels=owned, registry=registry)
    async def pod_event(event: Any, **_: Any) -> None:
        controller.observe(Kind.POD, event)

    return registry


def kopf_settings(operator: OperatorSettings) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # our own Events say what matters; kopf's would be noise
    settings.peering.standalone = True  # leader election is ours (kube/leader.py), no CRDs
    settings.watching.server_timeout = operator.watch_timeout_seconds
    settings.batching.batch_window = operator.batch_window_seconds
    return settings
