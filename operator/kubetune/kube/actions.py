"""The API calls a reconcile makes: stops, launches, Job deletions, status writes, Events.

Every call is idempotent, so a reconcile interrupted anywhere, run twice or run by a freshly
restarted operator converges to the same state: names are deterministic (a 409 on create
is success), patches are merge patches of fields only the operator owns, a 404 on delete
means done. Every object an answer returns goes into the cache at once, so the next
reconcile does not act on what it just changed. What to call is decided elsewhere
(``observe``, the engine, ``study_status``); this module only carries it out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from kubetune import metrics
from kubetune.api.events import EventReason
from kubetune.api.study import StudySpec, StudyStatus
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.engine import NewTrial
from kubetune.history import StopDecision
from kubetune.kube import objects, paths, study_status, trial_status
from kubetune.kube.cache import Kind, ObjectCache, StudyKey
from kubetune.kube.client import Kube
from kubetune.kube.events import EventRecorder
from kubetune.kube.objects import PRUNED_ANNOTATION, STOP_REQUESTED_ANNOTATION
from kubetune.kube.observe import KubeObject, StatusWrite
from kubetune.lifecycle import bounded_message

log = logging.getLogger(__name__)


class Actions:
    """The reconciler's hands: API calls, each reflected in the cache."""

    def __init__(
        self, kube: Kube, cache: ObjectCache, pool: Executor, events: EventRecorder
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.pool = pool
        self.events = events
        self._accounts: set[str] = set()
        """Namespaces that already hold the trial account (created once per process)."""

    def post(self, study: Mapping[str, Any], reason: EventReason, message: str) -> None:
        self.events.post(study, reason, message)

    def ensure_trial_account(self, namespace: str) -> None:
        """The ServiceAccount, Role and RoleBinding the trial pods report through."""
        if namespace in self._accounts:
            return
        for path, body in objects.trial_account(namespace):
            self.kube.create(path, body)
        self._accounts.add(namespace)

    def read_config_map(self, namespace: str, name: str) -> KubeObject | None:
        """A ConfigMap a study warm-starts from (one GET when its plan is built)."""
        return self.kube.get(paths.config_map(namespace, name))

    # -- trials ---------------------------------------------------------------------------------

    def reread_trial(self, key: StudyKey, name: str) -> KubeObject | None:
        """A fresh GET of a Trial (its watch may lag behind its Job's), into the cache."""
        fresh = self.kube.get(paths.trial(key[0], name))
        if fresh is not None:
            self.cache.apply(Kind.TRIAL, None, fresh)
        return fresh

    def claim_exists(self, namespace: str, claim: str) -> bool:
        """Whether a PersistentVolumeClaim exists (nothing watches claims: a GET each time)."""
        return self.kube.get(paths.persistent_volume_claim(namespace, claim)) is not None

    def delete_job(self, key: StudyKey, name: str) -> None:
        """Delete a trial's Job and its pods (the trial's stop grace period is over)."""
        self.kube.delete(paths.job(key[0], name), propagation="Background")
        self.cache.forget(Kind.JOB, key, name)

    def stop(self, key: StudyKey, stops: list[StopDecision], now: datetime) -> None:
        """Ask trials to stop: ``spec.stop`` for the runner, annotations for the verdict."""

        def stop_one(stop: StopDecision) -> None:
            patch = {
                "metadata": {
                    "annotations": {
                        PRUNED_ANNOTATION: "true" if stop.pruned else "false",
                        STOP_REQUESTED_ANNOTATION: trial_status.format_time(now),
                    }
                },
                "spec": {"stop": True, "stopReason": bounded_message(stop.reason)},
            }
            updated = self.kube.patch(paths.trial(key[0], trial_name(key[1], stop.index)), patch)
            if updated is not None:
                self.cache.apply(Kind.TRIAL, None, updated)

        for _ in self.pool.map(stop_one, stops):
            pass

    def launch(
        self,
        key: StudyKey,
        study_uid: str,
        spec: StudySpec,
        launch: list[NewTrial],
        missing_jobs: list[KubeObject],
    ) -> list[NewTrial]:
        """Create Trials in index order, each with its Job at the same time, and the Jobs of
        Trials that lack one.

        Trials are created one after the other while their Jobs go to the pool: an operator
        killed in the middle leaves a prefix of the launch, never a gap. The engine numbers
        new trials after the highest index, so a gap would stay in the study for good (the
        chaos test that kills the operator found one when Trials were created at once). A
        Job whose Trial was not created is the next reconcile's to adopt
        (``observe.stray_jobs``).
        """
        namespace, name = key
        jobs = []
        for new in sorted(launch, key=lambda n: n.index):
            body = objects.render_trial(
                name, namespace, study_uid, new.index, new.params, new.budget, new.attributes
            )
            jobs.append(self.pool.submit(self._create_job, key, spec, body, study_uid))
            self._create_trial(key, body)
        jobs += [
            self.pool.submit(self._create_job, key, spec, trial, study_uid)
            for trial in missing_jobs
        ]
        for job in jobs:
            job.result()  # a failed create fails the reconcile: it is retried
        return sorted(launch, key=lambda n: n.index)

    def adopt(self, key: StudyKey, study_uid: str, identities: list[dict[str, Any]]) -> None:
        """Create the Trials of Jobs whose Trial was never created, from what each Job says
        (``objects.trial_identity``), one after the other in the order given (by index)."""
        namespace, name = key
        for identity in identities:
            trial = objects.trial_of(identity, name, namespace, study_uid)
            self._create_trial(key, trial)
            log.info(
                "%s/%s: trial %s created from its Job, which was created without it",
                namespace,
                name,
                trial["metadata"]["name"],
            )

    def delete_jobs(self, key: StudyKey, names: list[str], why: str) -> None:
        """Delete Jobs at once: a deleted Trial's (the garbage collector's work when Jobs
        were owned by their Trials), or one evaluating other parameters than its Trial's."""
        for _ in self.pool.map(lambda name: self.delete_job(key, name), names):
            pass
        if names:
            log.info("%s/%s: deleted the Jobs %s: %s", *key, ", ".join(names), why)

    def _create_trial(self, key: StudyKey, body: KubeObject) -> None:
        """Create a Trial, into the cache; if it already exists, read it instead."""
        trial = self.kube.create(paths.trials(key[0]), body)
        if trial is None:  # made by an earlier reconcile: its parameters are the truth
            trial = self.kube.get(paths.trial(key[0], body["metadata"]["name"]))
            if trial is None:
                raise RuntimeError(f"trial {body['metadata']['name']} exists yet cannot be read")
        else:
            metrics.TRIALS_CREATED.inc()
        self.cache.apply(Kind.TRIAL, None, trial)

    def _create_job(
        self, key: StudyKey, spec: StudySpec, trial: KubeObject, study_uid: str
    ) -> None:
        job = self.kube.create(paths.jobs(key[0]), objects.render_job(spec, trial, study_uid))
        if job is not None:
            self.cache.apply(Kind.JOB, None, job)

    # -- status ---------------------------------------------------------------------------------

    def write_trial_status(self, key: StudyKey, write: StatusWrite) -> KubeObject | None:
        """Patch a Trial's status; count it in the metrics the moment it finishes. Returns
        the Trial as written (None if it is gone)."""
        trial, patch, observation = write
        updated = self.kube.patch(paths.trial_status(key[0], trial["metadata"]["name"]), patch)
        if updated is None:
            return None
        self.cache.apply(Kind.TRIAL, None, updated)
        was = TrialPhase((trial.get("status") or {}).get("phase") or TrialPhase.PENDING)
        if observation.phase.is_finished() and not was.is_finished():
            gpu_seconds = float((updated.get("status") or {}).get("gpuSeconds") or 0)
            metrics.trial_finished(key[0], key[1], observation.phase, gpu_seconds)
        return updated

    def write_study_status(self, key: StudyKey, status: StudyStatus) -> None:
        body = {"status": study_status.to_patch_body(status)}
        updated = self.kube.patch(paths.study_status(*key), body)
        if updated is not None:
            self.cache.apply(Kind.STUDY, None, updated)
