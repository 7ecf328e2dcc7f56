"""One reconcile of one study: observe its trials, ask the engine, carry out the decision.

Level-triggered: nothing is remembered between calls except caches that can be rebuilt
(the planner per spec generation, which namespaces already hold the trial account). Every
call reads the study, its Trials, Jobs and pods as they are now, derives each trial's phase
(``trial_status``), asks ``Planner.decide`` and makes the API match:

1. a Trial asked to stop gets ``stop_grace_seconds`` to end by itself, then its Job is
   deleted; a trial not running yet is stopped at once;
2. a Trial whose Job is missing (the operator died between the two creates) gets it;
3. stop decisions set ``spec.stop`` (with ``kubetune.dev/pruned``) on their Trials;
4. new trials are created — Trial, then its Job — many at once on the API pool;
5. trial phases the cluster shows are written to the Trials' status, after the launches so
   that a successor never queues behind status writes on the API pool;
6. the study's status is written if it changed (alongside the trial status writes), and
   Events mark its milestones.

Every write is idempotent: names are deterministic (409 is success), patches are merge
patches of fields only the operator owns. So a reconcile interrupted anywhere, or run twice,
or run by a freshly restarted operator, converges to the same state.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubetune import metrics
from kubetune.api.study import TuningStudy
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.engine import Decision, NewTrial, Planner, TrialSnapshot
from kubetune.history import IntermediateValue, StopDecision
from kubetune.kube import objects, paths, study_status, trial_status
from kubetune.kube.cache import Kind, ObjectCache, StudyKey
from kubetune.kube.client import Kube
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.objects import PRUNED_ANNOTATION, STOP_REQUESTED_ANNOTATION, TRIAL_LABEL
from kubetune.kube.settings import OperatorSettings
from kubetune.validation import FieldError, InvalidStudy, parse_study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """A study's spec, parsed and checked once per generation."""

    study: TuningStudy
    planner: Planner


@dataclass
class TrialsObserved:
    snapshots: dict[int, TrialSnapshot]
    missing_jobs: list[dict[str, Any]]
    gpu_seconds: float
    wake_in: float
    patches: list[tuple[dict[str, Any], dict[str, Any], trial_status.Observation]]
    """Trial status writes to make (trial, patch, observation), once successors are launched."""


def utcnow() -> datetime:
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
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.settings = settings
        self.pool = pool
        self.events = events
        self.job_events = job_events
        self._plans: dict[StudyKey, tuple[str, int, Plan | InvalidStudy]] = {}
        self._accounts: set[str] = set()

    # -- the loop body ------------------------------------------------------------------------

    def reconcile(self, key: StudyKey) -> float | None:
        """Make the API match the study's decision; returns seconds until the next look."""
        body = self.cache.study(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            metrics.forget_study(*key)
            self._plans.pop(key, None)
            return None  # ownerReferences let the garbage collector remove the rest
        plan = self._plan(body)
        now = utcnow()
        previous = study_status.previous_status(body.get("status"))
        generation = int(body["metadata"].get("generation") or 0)
        if isinstance(plan, InvalidStudy):
            message = "; ".join(str(e) for e in plan.errors)
            status = study_status.invalid(previous, generation, message, now)
            if study_status.changed(body.get("status"), status):
                self.events.post(body, "InvalidSpec", message, warning=True)
                self._write_study_status(key, status)
            metrics.observe_study(*key, status.phase, {}, {})
            return None
        self._ensure_trial_account(key[0])
        spec = plan.study.spec
        observed = self._observe_trials(key, plan, now)

        start = previous.start_time or now
        if previous.start_time is None:
            self.events.post(
                body, "Started", f"{spec.algorithm.name} search of {spec.budget.max_trials} trials"
            )
        started = time.perf_counter()
        decision = plan.planner.decide(
            list(observed.snapshots.values()),
            (now - start).total_seconds(),
            suspended=spec.suspend,
        )
        metrics.SUGGESTION_DURATION.labels(str(spec.algorithm.name)).observe(
            time.perf_counter() - started
        )
        self._stop(key, decision.stop, now)
        created = self._launch(key, body, plan, decision.launch, observed.missing_jobs)
        writes = [
            self.pool.submit(self._write_trial_status, key, trial, patch, observation)
            for trial, patch, observation in observed.patches
        ]
        snapshots = dict(observed.snapshots)
        for new in created:
            snapshots[new.index] = TrialSnapshot(
                new.index, new.params, TrialPhase.PENDING, budget=new.budget
            )

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
        )
        status = study_status.desired(view, previous, now)
        if study_status.changed(body.get("status"), status):
            self._announce(body, previous, status)
            writes.append(self.pool.submit(self._write_study_status, key, status))
        metrics.observe_study(
            *key, status.phase, summary.counts, _best_values(plan, summary, snapshots)
        )
        for write in writes:
            write.result()  # a failed write fails the reconcile: it is retried
        return self._next_look(observed.wake_in, spec.budget.timeout_seconds, start, now, decision)

    # -- the spec -------------------------------------------------------------------------------

    def _plan(self, body: Mapping[str, Any]) -> Plan | InvalidStudy:
        metadata = body["metadata"]
        uid, generation = metadata["uid"], int(metadata.get("generation") or 0)
        cached = self._plans.get(_key(body))
        if cached is not None and cached[:2] == (uid, generation):
            return cached[2]
        document = {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")},
            "spec": body.get("spec"),
        }
        result: Plan | InvalidStudy
        try:
            study = parse_study(document)
            result = Plan(study, Planner(study.spec, study.metadata.name))
        except InvalidStudy as error:
            result = error
        except ValueError as error:  # a planner error parse_study did not anticipate
            result = InvalidStudy([FieldError("spec", str(error))])
        self._plans[_key(body)] = (uid, generation, result)
        return result

    # -- trials ---------------------------------------------------------------------------------

    def _observe_trials(self, key: StudyKey, plan: Plan, now: datetime) -> TrialsObserved:
        spec = plan.study.spec
        resources = spec.trial_template.resources
        metrics_names = [o.metric for o in spec.objective_list]
        jobs = self.cache.get(Kind.JOB, key)
        pods_by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for pod in self.cache.get(Kind.POD, key).values():
            pods_by_trial[(pod["metadata"].get("labels") or {}).get(TRIAL_LABEL, "")].append(pod)
        failed_creates: dict[str, str] = {}  # Job uid → message; read only if a trial needs it

        def observe(
            trial: Mapping[str, Any], job: Mapping[str, Any] | None
        ) -> trial_status.Observation:
            pods = pods_by_trial.get(trial["metadata"]["name"], [])
            failed_create = failed_creates.get(job["metadata"].get("uid", "")) if job else None
            return trial_status.derive(
                trial, job, pods, metrics_names, resources.gpu_resource, now, failed_create
            )

        def settle(trial: dict[str, Any]) -> tuple[dict[str, Any], trial_status.Observation, float]:
            """Act on one trial before deciding: stop it, confirm a missing metric (I/O)."""
            name = trial["metadata"]["name"]
            job = jobs.get(name)
            observation = observe(trial, job)
            wake_in = float("inf")
            if trial["spec"].get("stop") and observation.phase.is_active() and job is not None:
                wake_in = self._stop_wait(trial, observation, now)
                if wake_in <= 0:
                    self._delete_job(key, name)
                    jobs.pop(name, None)
                    observation = observe(trial, None)
            if observation.from_metrics:
                # The Job's completion can be seen before the runner's last report arrives
                # on the Trial's watch: reread, so the verdict and the values are final.
                fresh = self.kube.get(paths.trial(key[0], name))
                if fresh is not None:
                    self.cache.apply(Kind.TRIAL, None, fresh)
                    trial = fresh
                    observation = observe(trial, jobs.get(name))
            return trial, observation, wake_in

        trials = list(self.cache.get(Kind.TRIAL, key).values())
        observations = [observe(t, jobs.get(t["metadata"]["name"])) for t in trials]
        if any(o.reason == "WaitingForPod" for o in observations):
            failed_creates.update(self.job_events.failed_creates(key[0]))
            if failed_creates:
                observations = [observe(t, jobs.get(t["metadata"]["name"])) for t in trials]
        quiet, busy = [], []
        for trial, observation in zip(trials, observations, strict=True):
            # most trials need no API call: keep those off the pool
            needs_io = (
                trial["spec"].get("stop") and observation.phase.is_active()
            ) or observation.from_metrics
            if needs_io:
                busy.append(trial)
            else:
                quiet.append((trial, observation, float("inf")))
        settled = quiet + list(self.pool.map(settle, busy))

        result = TrialsObserved({}, [], 0.0, float("inf"), [])
        for trial, observation, wake_in in settled:
            result.wake_in = min(result.wake_in, wake_in)
            desired = trial_status.desired_status(
                trial, observation, resources.gpus, metrics_names[0], now
            )
            patch = trial_status.status_patch(
                trial, observation, resources.gpus, metrics_names[0], now
            )
            if patch is not None:
                result.patches.append((trial, patch, observation))
            if observation.phase.is_finished():
                result.gpu_seconds += float(desired["gpuSeconds"] or 0.0)
            elif trial["metadata"]["name"] not in jobs and not trial["spec"].get("stop"):
                result.missing_jobs.append(trial)
            snapshot = _snapshot(trial, observation.phase)
            result.snapshots[snapshot.index] = snapshot
        return result

    def _stop_wait(
        self, trial: Mapping[str, Any], observation: trial_status.Observation, now: datetime
    ) -> float:
        """Seconds the stopping trial still has to exit by itself (<= 0: delete its Job now)."""
        if observation.phase is TrialPhase.PENDING:
            return 0.0  # nothing runs yet: nothing to lose
        annotations = trial["metadata"].get("annotations") or {}
        requested = trial_status.parse_time(annotations.get(STOP_REQUESTED_ANNOTATION)) or now
        deadline = requested + timedelta(seconds=self.settings.stop_grace_seconds)
        return (deadline - now).total_seconds()

    def _delete_job(self, key: StudyKey, name: str) -> None:
        self.kube.delete(paths.job(key[0], name), propagation="Background")
        self.cache.forget(Kind.JOB, key, name)

    def _write_trial_status(
        self,
        key: StudyKey,
        trial: dict[str, Any],
        patch: dict[str, Any],
        observation: trial_status.Observation,
    ) -> None:
        updated = self.kube.patch(paths.trial_status(key[0], trial["metadata"]["name"]), patch)
        if updated is None:
            return
        self.cache.apply(Kind.TRIAL, None, updated)
        was = TrialPhase((trial.get("status") or {}).get("phase") or TrialPhase.PENDING)
        if observation.phase.is_finished() and not was.is_finished():
            gpu_seconds = float((updated.get("status") or {}).get("gpuSeconds") or 0)
            metrics.trial_finished(key[0], key[1], observation.phase, gpu_seconds)

    def _stop(self, key: StudyKey, stops: list[StopDecision], now: datetime) -> None:
        def stop_one(stop: StopDecision) -> None:
            patch = {
                "metadata": {
                    "annotations": {
                        PRUNED_ANNOTATION: "true" if stop.pruned else "false",
                        STOP_REQUESTED_ANNOTATION: trial_status.format_time(now),
                    }
                },
                "spec": {"stop": True, "stopReason": stop.reason[:1024]},
            }
            updated = self.kube.patch(paths.trial(key[0], trial_name(key[1], stop.index)), patch)
            if updated is not None:
                self.cache.apply(Kind.TRIAL, None, updated)

        for _ in self.pool.map(stop_one, stops):
            pass

    # -- new trials -----------------------------------------------------------------------------

    def _launch(
        self,
        key: StudyKey,
        study: Mapping[str, Any],
        plan: Plan,
        launch: list[NewTrial],
        missing_jobs: list[dict[str, Any]],
    ) -> list[NewTrial]:
        """Create Trials (then their Jobs) and the Jobs of Trials that lack one."""
        namespace, name = key
        uid = study["metadata"]["uid"]

        def create_trial(new: NewTrial) -> NewTrial:
            body = objects.render_trial(
                name, namespace, uid, new.index, new.params, new.budget, new.attributes
            )
            trial = self.kube.create(paths.trials(namespace), body)
            if trial is None:  # made by an earlier reconcile: its parameters are the truth
                trial = self.kube.get(paths.trial(namespace, body["metadata"]["name"]))
                if trial is None:
                    raise RuntimeError(
                        f"trial {body['metadata']['name']} exists yet cannot be read"
                    )
            else:
                metrics.TRIALS_CREATED.inc()
            self.cache.apply(Kind.TRIAL, None, trial)
            create_job(trial)
            return new

        def create_job(trial: dict[str, Any]) -> None:
            job = self.kube.create(
                paths.jobs(namespace), objects.render_job(plan.study.spec, trial)
            )
            if job is not None:
                self.cache.apply(Kind.JOB, None, job)

        done = list(self.pool.map(create_trial, launch))
        for _ in self.pool.map(create_job, missing_jobs):
            pass
        return done

    def _ensure_trial_account(self, namespace: str) -> None:
        if namespace in self._accounts:
            return
        for path, body in objects.trial_account(namespace):
            self.kube.create(path, body)
        self._accounts.add(namespace)

    # -- the study ------------------------------------------------------------------------------

    def _write_study_status(self, key: StudyKey, status: Any) -> None:
        body = {"status": study_status.to_patch_body(status)}
        updated = self.kube.patch(paths.study_status(*key), body)
        if updated is not None:
            self.cache.apply(Kind.STUDY, None, updated)

    def _announce(self, body: Mapping[str, Any], previous: Any, status: Any) -> None:
        best, old = status.best_trial, previous.best_trial
        if best is not None and (old is None or old.index != best.index):
            values = ", ".join(f"{k}={v:g}" for k, v in sorted(best.values.items()))
            self.events.post(body, "BestTrialImproved", f"{best.name}: {values}")
        if status.phase != previous.phase and status.phase.is_finished():
            condition = next((c for c in status.conditions if c.type == str(status.phase)), None)
            reason = condition.reason if condition else str(status.phase)
            message = condition.message if condition else ""
            self.events.post(
                body,
                f"Study{status.phase}",
                f"{reason}: {message}",
                warning=status.phase == "Failed",
            )

    def _next_look(
        self,
        wake_in: float,
        timeout_seconds: int | None,
        start: datetime,
        now: datetime,
        decision: Decision,
    ) -> float:
        wait = min(wake_in, self.settings.reconcile_interval_seconds)
        if timeout_seconds is not None and decision.ending is None:
            left = timeout_seconds - (now - start).total_seconds()
            wait = min(wait, max(left, 0.0) + 0.5)
        return max(wait, 0.05)


def _key(body: Mapping[str, Any]) -> StudyKey:
    return body["metadata"].get("namespace") or "", body["metadata"]["name"]


def _snapshot(trial: Mapping[str, Any], phase: TrialPhase) -> TrialSnapshot:
    spec = trial["spec"]
    status = trial.get("status") or {}
    intermediate = tuple(
        IntermediateValue(int(p["step"]), dict(p.get("values") or {}))
        for p in status.get("intermediate") or []
        if isinstance(p, dict) and "step" in p
    )
    return TrialSnapshot(
        index=int(spec["index"]),
        params=spec.get("parameters") or {},
        phase=phase,
        values={k: float(v) for k, v in (status.get("values") or {}).items()},
        intermediate=intermediate,
        budget=spec.get("budget"),
        stop_requested=bool(spec.get("stop")),
        attributes=spec.get("attributes") or {},
    )


def _best_values(
    plan: Plan, summary: Any, snapshots: Mapping[int, TrialSnapshot]
) -> dict[str, float]:
    if summary.best_index is None:
        return {}
    values = snapshots[summary.best_index].values
    return {
        o.metric: values[o.metric] for o in plan.study.spec.objective_list if o.metric in values
    }
