"""Run a study on this machine: the engine decides, subprocesses evaluate, files remember.

The loop mirrors the operator's reconcile: observe trials (process exits, reported metrics),
ask ``Planner.decide``, carry out the decision (start processes, write stop files), repeat.
Every change is written to the study's directory before it matters, so killing ``kubetune
run`` at any point and starting it again continues the same study: finished trials are kept,
interrupted ones run again with the same parameters.

The loop sleeps until a trial process exits (or ``poll_seconds`` pass, to read new reports),
and a reaped trial's successor starts in the same step, before anything is flushed to disk or
shown: the time between one trial's end and the next one's start is a few milliseconds.

With ``--gpus``, each device holds up to ``trials_per_gpu`` one-GPU trials at once (through
CUDA_VISIBLE_DEVICES); a trial that asks for several GPUs takes whole devices. A trial's
GPU-seconds count its share: 1/K of a device shared K ways.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetune import lifecycle
from kubetune.api.reasons import TrialReason
from kubetune.api.study import TuningStudy
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.engine import Decision, Ending, NewTrial, Planner, TrialSnapshot
from kubetune.history import StopDecision
from kubetune.local.checkpoints import CheckpointDirs, Handoff
from kubetune.local.processes import TrialProcess, kill_leftovers, launch, wait_for_exit
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.local.warm import load_warm_start
from kubetune.summary import Summary
from kubetune.validation import FieldError, InvalidStudy

GPUS_FIELD = "spec.trialTemplate.resources.gpus"
SPEC_SAVE_SECONDS = 5.0
"""How often the study's elapsed time is written while it runs (and always at its end)."""
RECENT_FAILURES_SHOWN = 3
"""How many of the latest failures the progress display lists."""


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LocalOptions:
    """How a study runs locally."""

    state_dir: Path = Path(".kubetune")
    """Where studies keep their trials; ``<state_dir>/<study name>/``."""
    workdir: Path = Path()
    """Working directory of trial processes (the study file's folder, like an image WORKDIR)."""
    gpus: tuple[str, ...] = ()
    """Device ids to hand out through CUDA_VISIBLE_DEVICES; empty: leave it untouched."""
    trials_per_gpu: int = 1
    """How many one-GPU trials share each device of ``gpus`` at once (time-slicing)."""
    poll_seconds: float = 0.2
    """How often reported metrics are read; process exits are noticed at once."""
    display_seconds: float = 0.25
    """Least time between two progress updates (the last one is always shown)."""
    stop_grace_seconds: float = 10.0
    """How long a trial asked to stop may take before it is killed."""
    study_dir: Path = Path()
    """Folder of the study file: ``spec.warmStart.file`` is relative to it."""
    fresh: bool = False
    """Discard what an earlier run of the same study left and start over."""
    shutdown_grace_seconds: float = 5.0
    """On interrupt, how long running trials get after SIGTERM before SIGKILL."""
    warn: Callable[[str], None] = warn_on_stderr
    """Where a one-time notice about the run goes (e.g. GPUs shared because --gpus is absent)."""


class StudyChanged(ValueError):
    """The study file no longer matches the state an earlier run left behind."""


@dataclass
class StudyView:
    """What the progress display needs after each step."""

    study: TuningStudy
    trials: list[LocalTrial]
    summary: Summary
    elapsed_seconds: float
    ending: Ending | None = None
    recent_failures: list[str] = field(default_factory=list)


class LocalStudy:
    def __init__(self, study: TuningStudy, options: LocalOptions) -> None:
        self.study = study
        self.name = study.metadata.name
        self.options = options
        warm = load_warm_start(study, options.state_dir, options.study_dir)
        self.planner = Planner(study.spec, self.name, warm)
        self.store = StudyStore(options.state_dir / self.name)
        self.checkpoints = (
            CheckpointDirs(self.store.root) if lifecycle.keeps_checkpoints(study.spec) else None
        )
        self._pruned_at = 0
        """``_finishes`` when checkpoints were last pruned."""
        self.trials: dict[int, LocalTrial] = {}
        self.processes: dict[int, TrialProcess] = {}
        self.previous_elapsed = 0.0
        self.started = time.monotonic()
        self.ending: Ending | None = None
        self.failures: list[str] = []
        self.interrupted: list[NewTrial] = []
        """Trials a killed run left unfinished; they run again before anything new."""
        self._finished: dict[int, TrialSnapshot] = {}
        """Snapshots of finished trials, which never change again."""
        self._spec_saved = 0.0
        self._decided_on: tuple[object, ...] | None = None
        """What the last decision saw (see ``_situation``): the same again needs no decision."""
        self._finishes = 0
        """Trials finished so far by this run; one finished while carrying out a decision
        (a trial that could not start) calls for another decision."""
        self._check_gpus()

    def _check_gpus(self) -> None:
        """Refuse a study that could never start a trial; say once how devices are shared."""
        wanted = self.study.spec.trial_template.resources.gpus
        given = self.options.gpus
        if given and wanted > len(given):
            raise InvalidStudy(
                [
                    FieldError(
                        GPUS_FIELD,
                        f"each trial needs {wanted} GPUs but --gpus gives {len(given)} "
                        f"({','.join(given)}), so no trial could ever start: pass at least "
                        f"{wanted} devices with --gpus or lower resources.gpus",
                    )
                ]
            )
        if self.options.trials_per_gpu < 1:
            raise ValueError("--trials-per-gpu must be at least 1")
        if wanted > 0 and not given:
            self.options.warn(
                f"each trial asks for {wanted} GPU(s) ({GPUS_FIELD}) but --gpus was not given: "
                "every trial sees every GPU of this machine and parallel trials share them; "
                "pass --gpus 0,1,... to give each trial its own devices"
            )

    # -- state -------------------------------------------------------------------------

    def open(self) -> int:
        """Load an earlier run's trials (or start afresh); returns how many were resumed."""
        manifest = self.study.to_manifest()
        if self.store.exists() and not self.options.fresh:
            saved = self.store.load_spec()
            _check_same_study(saved.get("manifest", {}), manifest, self.store.root)
            self.previous_elapsed = float(saved.get("elapsedSeconds", 0.0))
            for trial in self.store.load_trials():
                if trial.phase.is_active():
                    # Its run was interrupted: evaluate the same point again, from scratch.
                    kill_leftovers(self.store.trial_dir(trial.index))
                    self.store.reset_trial(trial.index)
                    trial = LocalTrial(
                        trial.index, trial.params, trial.budget, attributes=trial.attributes
                    )
                    self.interrupted.append(
                        NewTrial(trial.index, trial.params, trial.budget, trial.attributes)
                    )
                self.trials[trial.index] = trial
        elif self.store.exists():
            shutil.rmtree(self.store.root)
        self._save_spec()
        return sum(1 for t in self.trials.values() if t.phase.is_finished())

    def _save_spec(self) -> None:
        self._spec_saved = time.monotonic()
        self.store.save_spec(
            {"manifest": self.study.to_manifest(), "elapsedSeconds": self.elapsed()}
        )
        self.store.sync()

    def elapsed(self) -> float:
        return self.previous_elapsed + time.monotonic() - self.started

    def snapshots(self) -> list[TrialSnapshot]:
        """Every trial as the engine sees it; only running trials' reports are read again."""
        return [self._finished.get(i) or self._snapshot(t) for i, t in self.trials.items()]

    def _snapshot(self, trial: LocalTrial) -> TrialSnapshot:
        metrics = self.store.metrics(trial.index)
        snapshot = TrialSnapshot(
            index=trial.index,
            params=trial.params,
            phase=trial.phase,
            values=dict(metrics.values),
            intermediate=metrics.points(),
            budget=trial.budget,
            stop_requested=trial.stop_requested,
            attributes=trial.attributes,
        )
        if trial.phase.is_finished():
            self._finished[trial.index] = snapshot
        return snapshot

    # -- one reconcile -------------------------------------------------------------------

    def step(self) -> StudyView:
        self.advance()
        return self.view()

    def advance(self) -> None:
        """Reap exited trials, decide, start successors at once; then flush to disk."""
        now = time.time()
        self._reap(now)
        if self._situation() != self._decided_on:
            decision = self.planner.decide(
                self.snapshots(), self.elapsed(), suspended=self.study.spec.suspend
            )
            finishes = self._finishes
            self._carry_out(decision, now)
            self._decided_on = self._situation() if self._finishes == finishes else None
        self._prune_checkpoints()
        self._enforce_grace(now)
        if time.monotonic() - self._spec_saved >= SPEC_SAVE_SECONDS:
            self._save_spec()
        self.store.sync()

    def _situation(self) -> tuple[object, ...]:
        """Everything a decision depends on that can change while trials run: which trials
        exist and run, how much each running one reported, and — with a timeout — the time.
        Deciding is O(trials); a step in which none of this changed skips it."""
        clock = self.elapsed() if self.study.spec.budget.timeout_seconds is not None else None
        reports = tuple((i, self.store.metrics(i).offset) for i in self.processes)
        return (len(self.trials), reports, len(self.interrupted), self.ending, clock)

    def view(self) -> StudyView:
        return StudyView(
            self.study,
            sorted(self.trials.values(), key=lambda t: t.index),
            self.planner.summarize(self.snapshots()),
            self.elapsed(),
            self.ending,
            self.failures[-RECENT_FAILURES_SHOWN:],
        )

    @property
    def done(self) -> bool:
        return self.ending is not None and not self.processes

    def run(self, on_step: Callable[[StudyView], None]) -> StudyView:
        """Step until the study ends and every process is reaped.

        Progress is shown at most every ``display_seconds``; between steps the loop sleeps
        until a trial exits or ``poll_seconds`` pass.
        """
        shown = float("-inf")
        try:
            while True:
                self.advance()
                if self.done:
                    self._save_spec()
                    view = self.view()
                    on_step(view)
                    return view
                if time.monotonic() - shown >= self.options.display_seconds:
                    on_step(self.view())
                    shown = time.monotonic()
                wait_for_exit(self.processes.values(), self.options.poll_seconds)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop running processes; their trials stay Running on disk and rerun on resume."""
        for process in self.processes.values():
            process.terminate(time.time())
        deadline = time.monotonic() + self.options.shutdown_grace_seconds
        while any(p.poll() is None for p in self.processes.values()):
            if time.monotonic() > deadline:
                for process in self.processes.values():
                    process.kill()
                break
            time.sleep(0.05)
        self.processes.clear()
        self._save_spec()
        self.store.close()

    # -- carrying out ----------------------------------------------------------------------

    def _carry_out(self, decision: Decision, now: float) -> None:
        for stop in decision.stop:
            self._request_stop(stop)
        if decision.ending is not None and self.ending is None:
            self.ending = decision.ending
        # Interrupted trials already count as active for the engine, so they never push
        # the study past parallelTrials.
        relaunch, self.interrupted = self.interrupted, []
        for new in [*relaunch, *decision.launch]:
            if self.ending is not None and new in relaunch:
                self._finish(self.trials[new.index], now, lifecycle.stopped(False, ""))
                continue
            gpus = self._free_gpus()
            if gpus is None:
                self.interrupted += [t for t in relaunch if t.index not in self.processes]
                break  # every device is busy; the next step asks again
            self._launch(new, gpus, now)

    def _request_stop(self, stop: StopDecision) -> None:
        trial = self.trials[stop.index]
        trial.stop_reason = stop.reason
        trial.stop_pruned = stop.pruned
        self.store.save(trial)
        self.store.request_stop(stop.index)

    def _launch(self, new: NewTrial, gpus: list[str], now: float) -> None:
        trial = self.trials.get(new.index) or LocalTrial(
            new.index, new.params, new.budget, attributes=dict(new.attributes)
        )
        trial.start_time, trial.gpus = now, gpus
        trial.gpu_fraction = self._gpu_fraction(gpus)
        self.trials[new.index] = trial
        directory = self.store.trial_dir(new.index)
        directory.mkdir(parents=True, exist_ok=True)
        handoff = self._handoff(trial, directory)
        self.store.save(trial)  # recorded before it starts: a crash now reruns it, never loses it
        try:
            process = launch(
                container=self.study.spec.trial_template.container(),
                trial_name=trial_name(self.name, new.index),
                index=new.index,
                params=new.params,
                budget=new.budget,
                objectives=self.study.spec.objective_list,
                trial_dir=directory,
                workdir=self.options.workdir,
                gpus=gpus,
                checkpoints=handoff,
            )
        except OSError as error:
            failed = lifecycle.Verdict(
                TrialPhase.FAILED, TrialReason.START_ERROR, f"cannot start: {error}"
            )
            self._finish(trial, now, failed)
            return
        self.processes[new.index] = process
        trial.pid = process.popen.pid  # on disk with its end: a write now would only slow the loop

    def _handoff(self, trial: LocalTrial, directory: Path) -> Handoff | None:
        """The trial's checkpoint directories, when the study keeps checkpoints; a restore
        that cannot happen is noted in its log and, at its end, its message."""
        if self.checkpoints is None:
            return None
        handoff = self.checkpoints.prepare(trial_name(self.name, trial.index), trial.attributes)
        trial.notice = handoff.notice
        if handoff.notice:
            with (directory / "output.log").open("a") as log:
                log.write(f"kubetune: warning: {handoff.notice}\n")
        return handoff

    def _prune_checkpoints(self) -> None:
        """Delete the checkpoints no later trial can restore from, once trials finished."""
        if self.checkpoints is None or self._finishes == self._pruned_at:
            return
        self._pruned_at = self._finishes
        needed = self.planner.checkpoints_needed(self.snapshots())
        if needed is None:
            return
        active = {i for i, t in self.trials.items() if t.phase.is_active()}
        self.checkpoints.prune({trial_name(self.name, i) for i in needed | active})

    def _free_gpus(self) -> list[str] | None:
        """Devices for the next trial, or None while too few are free; [] without --gpus."""
        if not self.options.gpus:
            return []
        per_device = self.options.trials_per_gpu
        load = gpu_load(self.options.gpus, [self.trials[i] for i in self.processes], per_device)
        per_trial = max(1, self.study.spec.trial_template.resources.gpus)
        if per_trial == 1:
            device = min(self.options.gpus, key=lambda g: load[g])  # spread, then pack
            return [device] if load[device] < per_device else None
        free = [g for g in self.options.gpus if load[g] == 0]
        return free[:per_trial] if len(free) >= per_trial else None

    def _gpu_fraction(self, gpus: list[str]) -> float:
        """The share of each of its devices a trial holds: 1/K of one shared device."""
        return 1.0 / self.options.trials_per_gpu if len(gpus) == 1 else 1.0

    def _enforce_grace(self, now: float) -> None:
        """A trial that watches its stop file ends by itself and gets ``stop_grace_seconds``
        before SIGTERM; one whose wrapper's job the backend does is sent SIGTERM at once.
        Either is killed ``stop_grace_seconds`` after SIGTERM."""
        grace = self.options.stop_grace_seconds
        for index, process in self.processes.items():
            if not self.trials[index].stop_requested:
                continue
            if process.stop_requested_at is None:
                process.stop_requested_at = now
            waited = now - process.stop_requested_at
            terminate_after = grace if process.stops_itself else 0.0
            if waited > terminate_after + grace:
                process.kill()
            elif waited >= terminate_after:
                process.terminate(now)

    def _reap(self, now: float) -> None:
        for index, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            del self.processes[index]
            trial = self.trials[index]
            trial.exit_code = lifecycle.exit_status(code)
            self._finish(trial, now, self._verdict(trial))

    def _verdict(self, trial: LocalTrial) -> lifecycle.Verdict:
        metrics = self.store.metrics(trial.index)
        ended = lifecycle.Ended(
            exit_code=trial.exit_code,
            values=metrics.values,
            non_finite=metrics.non_finite,
            stop_requested=trial.stop_requested,
            pruned=trial.stop_pruned,
            stop_reason=trial.stop_reason or "",
            output=self.store.output_tail(trial.index, lifecycle.OUTPUT_TAIL_LINES),
        )
        return lifecycle.verdict(ended, [o.metric for o in self.study.spec.objective_list])

    def _finish(self, trial: LocalTrial, now: float, verdict: lifecycle.Verdict) -> None:
        trial.phase, trial.reason = verdict.phase, verdict.reason
        trial.message = "; ".join(m for m in (trial.notice, verdict.message) if m)
        trial.completion_time = now
        self._finishes += 1
        self.store.save(trial)
        if verdict.phase is TrialPhase.FAILED:
            summary = lifecycle.failure_summary(verdict.message)
            self.failures.append(f"trial {trial.index}: {verdict.reason}: {summary}")


def gpu_load(devices: tuple[str, ...], running: list[LocalTrial], per_device: int) -> Counter[str]:
    """How many trial slots of each device are taken; a whole-device trial takes them all."""
    load: Counter[str] = Counter({g: 0 for g in devices})
    for trial in running:
        for device in trial.gpus:
            load[device] += per_device if trial.gpu_fraction >= 1.0 else 1
    return load


def _check_same_study(saved: dict[str, Any], current: dict[str, Any], root: Path) -> None:
    """Budget changes continue a study; any other change would mix incomparable trials."""
    saved_spec = {k: v for k, v in saved.get("spec", {}).items() if k not in ("budget", "suspend")}
    spec = {k: v for k, v in current.get("spec", {}).items() if k not in ("budget", "suspend")}
    if saved_spec != spec:
        changed = sorted(
            k for k in saved_spec.keys() | spec.keys() if saved_spec.get(k) != spec.get(k)
        )
        raise StudyChanged(
            f"the study changed since {root} was written (spec.{', spec.'.join(changed)}); "
            "restore the file, rename the study, or pass --fresh to start over"
        )
