"""One reconcile of one study: observe its trials, ask the engine, carry out the decision.

Level-triggered: nothing is remembered between calls except what can be rebuilt (the plan
per spec generation, recorded trials' snapshots per resourceVersion, which namespaces
already hold the trial account). Every call reads the
study, its Trials, Jobs and pods as the cache holds them now, and makes the API match:

1. each trial's phase is derived from its Job and pods (``observe``); a Trial asked to stop
   gets ``stop_grace_seconds`` to end by itself, then its Job is deleted (one not running
   yet is stopped at once); a verdict that reads reported metrics is confirmed by a GET;
   a Job evaluating other parameters than its Trial says is deleted (and made again in
   step 4), a Job whose Trial was never created gets it, a deleted Trial's Job is deleted
   (``observe.stray_jobs``);
2. ``Planner.decide`` says which trials to stop, which to launch, whether the study ends;
   a study whose checkpoint claim does not exist launches nothing (and says so) until it does;
3. stop decisions set ``spec.stop`` (with ``kubetune.dev/pruned``) on their Trials;
4. new trials are created — each Trial and its Job at once — on the API pool, at most
   ``launch_batch`` per reconcile (the rest next time, after the other queued studies), and
   Trials whose Job is missing (the operator died between the two creates) get it;
5. trial phases are written to the Trials' status after the launches, so that a
   successor never queues behind status writes on the API pool; a reconcile that launched
   leaves them to the study's next reconcile (at most ``status_hold_seconds`` in a row),
   which the work queue serves after every freed slot, so a burst of completions reaches the
   API server as its successors' creates first and its status writes after;
6. the study's status is written if it changed, and Events mark its milestones.

This module is the order of those steps; what to do is decided by the pure ``observe``,
``study_status`` and the engine, and ``actions`` makes the API calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kubetune import metrics
from kubetune.api.events import EventReason
from kubetune.api.study import StudySpec, StudyStatus
from kubetune.api.trial import trial_name
from kubetune.engine import Decision
from kubetune.kube import observe, study_status
from kubetune.kube.actions import Actions
from kubetune.kube.cache import Kind, ObjectCache, StudyKey
from kubetune.kube.client import Kube
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.plans import Plan, Plans
from kubetune.kube.settings import OperatorSettings
from kubetune.kube.warm import WarmStartUnavailable, load_warm_start
from kubetune.validation import InvalidStudy


class ReconcileStep(StrEnum):
    """The steps of a reconcile whose wall time ``kubetune_reconcile_step_duration_seconds``
    shows, so that a slow completion → successor can be traced to one of them."""

    OBSERVE = "observe"
    """Trials observed and settled (stops ended, verdicts confirmed: API calls)."""
    DECIDE = "decide"
    LAUNCH = "launch"
    """Stops asked, Trials and their Jobs created."""
    STATUS = "status"
    """Trial and study status written, Events posted."""


class StepClock:
    """Laps of one reconcile: each ``lap`` records the time since the previous one."""

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self, step: ReconcileStep) -> None:
        now = time.perf_counter()
        metrics.RECONCILE_STEP_DURATION.labels(step).observe(now - self._last)
        self._last = now


def utcnow() -> datetime:
    """The reconcile's clock: whole seconds, as the API stores times."""
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        cache: ObjectCache,
        settings: OperatorSettings,
        pool: Executor,
        events: EventRecorder,
        job_events: JobEvents,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cache = cache
        self.settings = settings
        self.pool = pool
        self.job_events = job_events
        self.clock = clock
        self.actions = Actions(kube, cache, pool, events)
        self.plans = Plans(
            lambda study: load_warm_start(study, cache, self.actions.read_config_map)
        )
        self.recorded: dict[StudyKey, observe.RecordedSnapshots] = {}
        """Each study's recorded trials' snapshots, rebuilt only when a trial changes."""
        self.confirmed: dict[StudyKey, dict[str, str]] = {}
        """Per study, the Job uid of each finished trial whose report a GET confirmed: the cache
        holds that answer and only moves forward, so the next reconcile (which writes the
        verdict when ``status_hold_seconds`` held it back) need not ask again."""
        self.statuses_held: dict[StudyKey, datetime] = {}
        """Since when each study's status writes have waited behind its launches."""

    def reconcile(self, key: StudyKey) -> float | None:
        """Make the API match the study's decision; returns seconds until the next look."""
        body = self.cache.study(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            metrics.forget_study(*key)
            self.plans.forget(key)
            self.recorded.pop(key, None)
            self.statuses_held.pop(key, None)
            self.confirmed.pop(key, None)
            return None  # ownerReferences let the garbage collector remove the rest
        plan = self.plans.get(key, body)
        now = self.clock()
        if isinstance(plan, WarmStartUnavailable):
            self._refuse(key, body, plan, now, waiting=True)
            return self.settings.warm_start_retry_seconds
        if isinstance(plan, InvalidStudy):
            self._refuse(key, body, plan, now)
            return None
        spec = plan.study.spec
        self.actions.ensure_trial_account(key[0])
        previous = study_status.previous_status(body.get("status"))
        start = previous.start_time or now
        if previous.start_time is None:
            self.actions.post(body, EventReason.STARTED, study_status.started_message(spec))
        clock = StepClock()
        observed = self._observe_trials(key, plan, now)
        if self._cache_lags(key, observed, previous):
            observed = self._observe_trials(key, plan, now)
        if self._settle_strays(key, body["metadata"]["uid"], observed, previous):
            observed = self._observe_trials(key, plan, now)
        clock.lap(ReconcileStep.OBSERVE)
        issued = previous.next_trial_index or 0
        decision = self._decide(plan, observed, (now - start).total_seconds(), issued)
        clock.lap(ReconcileStep.DECIDE)
        generation = int(body["metadata"].get("generation") or 0)
        kept = study_status.kept_ending(previous, generation)
        if kept is not None and decision.ending is None:
            decision = Decision([], decision.stop, kept)  # a deleted Trial reopens nothing
        held = self._missing_claim(key[0], spec, decision, observed)
        if held is not None:
            decision = replace(decision, launch=[])
            observed = replace(observed, missing_jobs=[])
        batch = decision.launch[: self.settings.launch_batch]
        more_to_launch = len(batch) < len(decision.launch)

        self.actions.stop(key, decision.stop, now)
        created = self.actions.launch(
            key, body["metadata"]["uid"], spec, batch, observed.missing_jobs
        )
        clock.lap(ReconcileStep.LAUNCH)
        started = previous.start_time is not None  # else the first status is written now
        if created and started and self._hold_statuses(key, now):
            return observe.MIN_LOOK_SECONDS  # the writes: next, behind the freed slots
        self.statuses_held.pop(key, None)
        writes: list[Future[Any]] = [
            self.pool.submit(self.actions.write_trial_status, key, write)
            for write in observed.writes
        ]
        snapshots = observe.with_launched(observed.snapshots, created)
        summary = plan.planner.summarize(list(snapshots.values()))
        view = study_status.StudyView(
            name=key[1],
            generation=generation,
            spec=spec,
            summary=summary,
            snapshots=snapshots,
            ending=decision.ending,
            start_time=start,
            gpu_seconds=observed.gpu_seconds,
            held=held,
            issued=issued,
        )
        status = study_status.desired(view, previous, now)
        if study_status.changed(body.get("status"), status):
            events = study_status.announcements(previous, status)
            for reason, message in events + study_status.deletions(previous, status, key[1]):
                self.actions.post(body, reason, message)
            if status.phase in study_status.TERMINAL_CONDITIONS:
                # A finished study shows finished trials: an operator killed between the
                # writes must not leave it Succeeded with a Trial still saying Running.
                for write in writes:
                    write.result()
            writes.append(self.pool.submit(self.actions.write_study_status, key, status))
        best = observe.best_values(spec, summary, snapshots)
        metrics.observe_study(
            *key,
            status.phase,
            summary.counts,
            best,
            gpu_seconds=status.gpu_seconds,
            hypervolume=summary.hypervolume,
        )
        for write in writes:
            write.result()  # a failed write fails the reconcile: it is retried
        clock.lap(ReconcileStep.STATUS)
        look = self._next_look(spec, observed.wake_in, (now - start).total_seconds(), decision)
        if held is not None:
            # Nothing watches claims: look again soon, so the study resumes once it exists.
            return min(look, self.settings.retry_seconds)
        if more_to_launch:
            return observe.MIN_LOOK_SECONDS  # behind the studies already queued
        return look

    def _hold_statuses(self, key: StudyKey, now: datetime) -> bool:
        """Whether this launching reconcile leaves its status writes to the next one: yes
        until they have waited ``status_hold_seconds``."""
        since = self.statuses_held.setdefault(key, now)
        return (now - since).total_seconds() < self.settings.status_hold_seconds

    def _refuse(
        self,
        key: StudyKey,
        body: Mapping[str, Any],
        error: InvalidStudy,
        now: datetime,
        waiting: bool = False,
    ) -> None:
        """A spec the operator cannot run: Failed, InvalidSpec, the message naming the field;
        or, ``waiting`` for a warm-start source, Pending, WarmStartUnavailable."""
        message = "; ".join(str(e) for e in error.errors)
        previous = study_status.previous_status(body.get("status"))
        generation = int(body["metadata"].get("generation") or 0)
        refuse, reason = (
            (study_status.waiting, EventReason.WARM_START_UNAVAILABLE)
            if waiting
            else (study_status.invalid, EventReason.INVALID_SPEC)
        )
        status = refuse(previous, generation, message, now)
        if study_status.changed(body.get("status"), status):
            self.actions.post(body, reason, message)
            self.actions.write_study_status(key, status)
        metrics.observe_study(*key, status.phase, {}, {})

    def _missing_claim(
        self,
        namespace: str,
        spec: StudySpec,
        decision: Decision,
        observed: observe.TrialsObserved,
    ) -> str | None:
        """Why nothing may be launched: the checkpoint claim does not exist (else None).

        Read only when something is to be launched: a Job whose claim is missing would sit
        in ContainerCreating with nothing on the study saying why."""
        checkpoints = spec.trial_template.checkpoints
        wanted = decision.launch or observed.missing_jobs
        if not wanted or checkpoints is None or checkpoints.persistent_volume_claim is None:
            return None
        claim = checkpoints.persistent_volume_claim.claim_name
        if self.actions.claim_exists(namespace, claim):
            return None
        return study_status.missing_claim_message(claim, namespace)

    def _decide(
        self, plan: Plan, observed: observe.TrialsObserved, elapsed: float, issued: int
    ) -> Decision:
        spec = plan.study.spec
        started = time.perf_counter()
        decision = plan.planner.decide(
            list(observed.snapshots.values()), elapsed, suspended=spec.suspend, issued=issued
        )
        metrics.SUGGESTION_DURATION.labels(str(spec.algorithm.name)).observe(
            time.perf_counter() - started
        )
        return decision

    def _next_look(
        self, spec: StudySpec, wake_in: float, elapsed: float, decision: Decision
    ) -> float:
        return observe.next_look(
            wake_in,
            self.settings.reconcile_interval_seconds,
            spec.budget.timeout_seconds,
            elapsed,
            ending=decision.ending is not None,
        )

    # -- trials ---------------------------------------------------------------------------------

    def _cache_lags(
        self, key: StudyKey, observed: observe.TrialsObserved, previous: StudyStatus
    ) -> bool:
        """Whether a Trial the cache misses, newly among the deleted ones, exists after all.

        The study's status can be newer than the Trials' watch (another replica led a moment
        ago): before a missing index counts as a deletion, a GET confirms it (one per trial,
        and only once: the status then records it)."""
        issued = study_status.next_trial_index(observed.snapshots, previous.next_trial_index or 0)
        missing = study_status.deleted_indices(observed.snapshots, issued)
        if len(missing) <= (previous.deleted_trials or 0):
            return False
        known = set(previous.deleted_trial_indices)
        names = [trial_name(key[1], i) for i in missing if i not in known]
        found = [self.actions.reread_trial(key, name) for name in names]
        return any(trial is not None for trial in found)

    def _settle_strays(
        self,
        key: StudyKey,
        study_uid: str,
        observed: observe.TrialsObserved,
        previous: StudyStatus,
    ) -> bool:
        """Jobs without a Trial: the Trial created from the Job if it never was, the Job
        deleted if its Trial was. Returns whether Trials were created or read (observe
        again: the engine must number new trials past them)."""
        issued = study_status.next_trial_index(observed.snapshots, previous.next_trial_index or 0)
        strays = observe.stray_jobs(
            self.cache.get(Kind.TRIAL, key), self.cache.get(Kind.JOB, key), issued
        )
        self.actions.delete_jobs(key, strays.collect, "their Trials were deleted")
        self.actions.adopt(key, study_uid, strays.adopt)
        return bool(strays.adopt)

    def _observe_trials(self, key: StudyKey, plan: Plan, now: datetime) -> observe.TrialsObserved:
        """Every trial observed and settled: stops finished, metric verdicts confirmed."""
        objects = observe.StudyObjects.group(
            self.cache.get(Kind.TRIAL, key),
            self.cache.get(Kind.JOB, key),
            self.cache.get(Kind.POD, key),
        )
        context = replace(
            observe.TrialContext.of(plan.study.spec, now),
            max_pod_retries=self.settings.max_pod_retries,
            curves=plan.planner.reads_intermediate,
        )
        wrong = observe.wrong_jobs(objects)
        if wrong:
            self.actions.delete_jobs(key, wrong, "they evaluate other parameters than their Trials")
            jobs = {n: j for n, j in objects.jobs.items() if n not in wrong}
            objects = replace(objects, jobs=jobs)
        observations = observe.observe_all(objects, context)
        if observe.waits_for_pod(observations):
            failed_creates = self.job_events.failed_creates(key[0])
            if failed_creates:
                context = replace(context, failed_creates=failed_creates)
                observations = observe.observe_all(objects, context)
        quiet, busy = observe.split(objects.trials, observations)
        confirmed = self.confirmed.setdefault(key, {})
        settled = quiet + list(
            self.pool.map(lambda item: self._settle(key, objects, context, item, confirmed), busy)
        )
        names = {item.trial["metadata"]["name"] for item in busy}
        self.confirmed[key] = {n: uid for n, uid in confirmed.items() if n in names}
        recorded = self.recorded.setdefault(key, observe.RecordedSnapshots())
        return observe.tally(settled, objects.jobs, context, recorded)

    def _settle(
        self,
        key: StudyKey,
        objects: observe.StudyObjects,
        context: observe.TrialContext,
        item: observe.Settled,
        confirmed: dict[str, str],
    ) -> observe.Settled:
        """Act on one trial before deciding: end its stop, confirm its metrics (API calls)."""
        trial, observation, wake_in = item
        name = trial["metadata"]["name"]
        job = objects.jobs.get(name)
        if observe.stop_pending(trial, observation) and job is not None:
            grace = self.settings.stop_grace_seconds
            wake_in = observe.stop_wait(trial, observation, context.now, grace)
            if wake_in <= 0:
                self.actions.delete_job(key, name)
                job = None
                observation = observe.observe(trial, job, objects, context)
        if observation.retry and job is not None:
            # A lost pod: counted in the Trial's status first (with the Job's uid, so an
            # operator killed before the delete does not count it again), then the Job goes,
            # and the next reconcile recreates it for the same trial.
            write = observe.status_write(trial, observation, context)
            if write is not None:
                trial = self.actions.write_trial_status(key, write) or trial
            self.actions.delete_job(key, name)
            return observe.Settled(trial, observation, wake_in)
        job_uid = str((job or {}).get("metadata", {}).get("uid") or "")
        if observation.from_metrics and not (job_uid and confirmed.get(name) == job_uid):
            # The Job's completion can be seen before the runner's last report arrives
            # on the Trial's watch: reread, so the verdict and the values are final.
            fresh = self.actions.reread_trial(key, name)
            if fresh is not None:
                trial = fresh
                observation = observe.observe(trial, job, objects, context)
                confirmed[name] = job_uid
        return observe.Settled(trial, observation, wake_in)
