"""Pure study logic: from a study's spec and its trials, decide what happens next.

Both backends — the operator reconciling cluster objects and the laptop runner managing
subprocesses — call the same ``Planner.decide`` with what they observed and carry out the
``Decision`` it returns. Nothing here does I/O or keeps state between calls: every decision is
recomputed from the trials, which is what makes the operator safe to kill at any moment. The
one thing a planner remembers is a cache: what it derived from each trial it was shown, kept
while the backend shows it the same (immutable) snapshot again, so a decision at 1,000 trials
costs what the trials that changed cost.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubetune import algorithms, stopping
from kubetune.algorithms import SettingsError, Suggester, Suggestion
from kubetune.api.attributes import (
    RESTORE_ATTRIBUTE,
    AttributeValue,
    InvalidAttributes,
    check_attributes,
)
from kubetune.api.study import Objective, ParameterValue, StudySpec
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.history import (
    History,
    IntermediateValue,
    StopDecision,
    TrialRecord,
    TrialState,
    feasibility,
)
from kubetune.space import SearchSpace
from kubetune.summary import Summary, TrialFacts, summarize, trial_facts
from kubetune.warmstart import NO_WARM_START, WarmStart


class Outcome(enum.StrEnum):
    """Why a study ended; the reason of its terminal condition."""

    GOAL_REACHED = "GoalReached"
    BUDGET_EXHAUSTED = "BudgetExhausted"
    TIMED_OUT = "TimedOut"
    SEARCH_SPACE_EXHAUSTED = "SearchSpaceExhausted"
    TOO_MANY_FAILED_TRIALS = "TooManyFailedTrials"

    @property
    def succeeded(self) -> bool:
        return self is not Outcome.TOO_MANY_FAILED_TRIALS


class InvalidSuggestion(RuntimeError):
    """A suggester broke its contract; a bug in the algorithm, never in the user's study."""


@dataclass(frozen=True)
class TrialSnapshot:
    """A trial as a backend observed it: the engine's only input about trials."""

    index: int
    params: Mapping[str, ParameterValue]
    phase: TrialPhase
    values: Mapping[str, float] = field(default_factory=dict)
    intermediate: tuple[IntermediateValue, ...] = ()
    budget: float | None = None
    stop_requested: bool = False
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    """What the algorithm attached when it suggested this trial; back in every history."""


@dataclass(frozen=True)
class _Derived:
    """What a planner derived from one snapshot: its record for the algorithm and its facts
    for the summary. Valid while the backend hands over that same snapshot object."""

    snapshot: TrialSnapshot
    record: TrialRecord
    facts: TrialFacts


@dataclass(frozen=True)
class NewTrial:
    """A trial to start; the backend stores all of it on the trial before it runs."""

    index: int
    params: dict[str, ParameterValue]
    budget: float | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Ending:
    outcome: Outcome
    message: str


@dataclass(frozen=True)
class Decision:
    """What a backend should do now; carrying it out twice must be harmless."""

    launch: list[NewTrial]
    stop: list[StopDecision]
    ending: Ending | None


_STATES = {
    TrialPhase.PENDING: TrialState.RUNNING,
    TrialPhase.RUNNING: TrialState.RUNNING,
    TrialPhase.SUCCEEDED: TrialState.COMPLETE,
    TrialPhase.FAILED: TrialState.FAILED,
    TrialPhase.PRUNED: TrialState.PRUNED,
    # Trials ended because the study ended have real but partial curves, like pruned ones.
    TrialPhase.STOPPED: TrialState.PRUNED,
}


def study_seed(spec: StudySpec, study_name: str) -> int:
    """The spec's seed, else one derived from the name: stable across restarts and machines."""
    if spec.seed is not None:
        return spec.seed
    return int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:4], "little")


def algorithm_settings(spec: StudySpec) -> dict[str, Any]:
    """The algorithm's settings, with the study's resource budget filled in for an algorithm
    that declares it needs one (its settings then have minResource/maxResource)."""
    settings = dict(spec.algorithm.settings)
    resource = spec.budget.resource
    declaration = algorithms.REGISTRY.get(spec.algorithm.name)
    if resource is not None and declaration is not None and declaration.capabilities.needs_resource:
        settings.setdefault("minResource", resource.min)
        settings.setdefault("maxResource", resource.max)
    return settings


class Planner:
    """Everything derived from a study's spec once; ``decide`` is then cheap and pure.

    Backends keep one planner per spec generation. Building it validates what the schema
    cannot (settings per algorithm, a finite space for grid search) and raises ``ValueError``
    subclasses whose message names the field.
    """

    def __init__(self, spec: StudySpec, study_name: str, warm: WarmStart = NO_WARM_START) -> None:
        self.spec = spec
        self.study_name = study_name
        self.warm = warm
        """Earlier results (``spec.warmStart``) the backend loaded; only the algorithm sees
        them: budget, goal, summary and best trial count the study's own trials."""
        self.objectives: tuple[Objective, ...] = tuple(spec.objective_list)
        self.space = SearchSpace.from_specs(spec.parameters)
        self.seed = study_seed(spec, study_name)
        self.suggester: Suggester[Any] = algorithms.create(
            spec.algorithm.name, self.space, algorithm_settings(spec), self.seed
        )
        problems = self.suggester.study_problems(spec)
        if problems:
            raise SettingsError("; ".join(problems))
        self.rule = stopping.create(spec.early_stopping.rule, spec.early_stopping.settings)
        declaration = algorithms.REGISTRY.get(spec.algorithm.name)
        self.reads_intermediate = self.rule is not None or (
            declaration is not None and declaration.capabilities.reads_intermediate
        )
        """Whether deciding reads trials' intermediate values (else only their last step)."""
        self._derived: dict[int, _Derived] = {}
        """By trial index: what was derived from the snapshot last shown for it."""

    def _derive(self, trial: TrialSnapshot) -> _Derived:
        """The record and facts of a snapshot, derived once per snapshot object: both
        backends keep a finished trial's snapshot and hand the same object back."""
        derived = self._derived.get(trial.index)
        if derived is None or derived.snapshot is not trial:
            record = TrialRecord(
                index=trial.index,
                params=trial.params,
                state=_STATES[trial.phase],
                values=trial.values,
                intermediate=trial.intermediate,
                budget=trial.budget,
                attributes=trial.attributes,
            )
            derived = _Derived(trial, record, trial_facts(self.spec, trial))
            self._derived[trial.index] = derived
        return derived

    def history(self, trials: Sequence[TrialSnapshot], issued: int = 0) -> History:
        """``issued``: indices below it were given out, to trials that may be gone since."""
        records = tuple(self._derive(t).record for t in sorted(trials, key=lambda t: t.index))
        return History(
            self.warm.trials + records, self.objectives, tuple(self.spec.constraints), issued
        )

    def summarize(self, trials: Sequence[TrialSnapshot]) -> Summary:
        return summarize(self.spec, trials, lambda t: self._derive(t).facts)

    def decide(
        self,
        trials: Sequence[TrialSnapshot],
        elapsed_seconds: float = 0.0,
        suspended: bool = False,
        issued: int = 0,
    ) -> Decision:
        """``issued``: the indices below it were given to trials, some perhaps deleted since
        (their Trials gone); new trials are numbered from it at least, so a deleted trial's
        index is never reused. A deleted trial is forgotten otherwise: it is not in
        ``trials``, so it frees its place in ``maxTrials`` and its values count nowhere."""
        summary = self.summarize(trials)
        ending = self._ending(trials, summary, elapsed_seconds)
        if ending is not None:
            stops = [
                StopDecision(t.index, f"the study ended: {ending.outcome}", pruned=False)
                for t in trials
                if t.phase.is_active() and not t.stop_requested
            ]
            return Decision([], stops, ending)

        history = self.history(trials, issued)
        stops = self._early_stops(history, trials)
        launch: list[NewTrial] = []
        budget = self.spec.budget
        free = min(budget.parallel_trials - summary.active, budget.max_trials - len(trials))
        if free > 0 and not suspended:
            launch = self._new_trials(history, free)
            if not launch and not summary.active:
                message = self.suggester.finished_message(history)
                ending = Ending(
                    Outcome.SEARCH_SPACE_EXHAUSTED,
                    message or f"every point of the search space was tried ({len(trials)} trials)",
                )
        return Decision(launch, stops, ending)

    def checkpoints_needed(self, trials: Sequence[TrialSnapshot]) -> set[int] | None:
        """Indices of the trials whose checkpoints must be kept: those the algorithm may still
        restore from, and the best trial's; None keeps them all (the algorithm says so, or
        its settings ask for it)."""
        needed = self.suggester.checkpoints_needed(self.history(trials))
        if needed is None:
            return None
        best = self.summarize(trials).best_index
        return needed | ({best} if best is not None else set())

    def _ending(
        self, trials: Sequence[TrialSnapshot], summary: Summary, elapsed_seconds: float
    ) -> Ending | None:
        budget = self.spec.budget
        goal = self._goal_reached(trials)
        if goal is not None:
            return goal
        failed = summary.counts[TrialPhase.FAILED]
        if budget.max_failed_trials is not None and failed > budget.max_failed_trials:
            return Ending(
                Outcome.TOO_MANY_FAILED_TRIALS,
                f"{failed} trials failed, more than budget.maxFailedTrials "
                f"({budget.max_failed_trials}); see the failed trials' status for why",
            )
        if budget.timeout_seconds is not None and elapsed_seconds >= budget.timeout_seconds:
            return Ending(
                Outcome.TIMED_OUT,
                f"budget.timeoutSeconds ({budget.timeout_seconds}) has passed",
            )
        if summary.total >= budget.max_trials and summary.active == 0:
            return Ending(
                Outcome.BUDGET_EXHAUSTED, f"all {budget.max_trials} trials (maxTrials) finished"
            )
        return None

    def _goal_reached(self, trials: Sequence[TrialSnapshot]) -> Ending | None:
        """The first feasible succeeded trial at or beyond the objective's target."""
        objective = self.objectives[0]
        if len(self.objectives) != 1 or objective.target is None:
            return None
        for trial in sorted(trials, key=lambda t: t.index):
            value = trial.values.get(objective.metric)
            if trial.phase is not TrialPhase.SUCCEEDED or value is None:
                continue
            if not feasibility(trial.values, self.spec.constraints).feasible:
                continue
            if value == objective.target or objective.direction.better(value, objective.target):
                return Ending(
                    Outcome.GOAL_REACHED,
                    f"trial {trial.index} reached {objective.metric}={value:g} "
                    f"(target {objective.target:g})",
                )
        return None

    def _early_stops(self, history: History, trials: Sequence[TrialSnapshot]) -> list[StopDecision]:
        decisions = self.suggester.stops(history)
        if self.rule is not None:
            decisions += self.rule.decide(history)
        if not decisions:
            return []
        open_ = {t.index for t in trials if t.phase.is_active() and not t.stop_requested}
        chosen: dict[int, StopDecision] = {}
        for decision in decisions:
            if decision.index in open_ and decision.index not in chosen:
                chosen[decision.index] = decision
        return [chosen[i] for i in sorted(chosen)]

    def _new_trials(self, history: History, free: int) -> list[NewTrial]:
        next_index = algorithms.next_index(history)
        launch: list[NewTrial] = []
        # Manual search first: initialTrials[i] is always trial i, so a restart never
        # evaluates one twice and never skips one.
        for index in range(next_index, len(self.spec.initial_trials)):
            if len(launch) == free:
                return launch
            launch.append(
                NewTrial(index, dict(self.spec.initial_trials[index]), self._full_budget())
            )
        next_index = max(next_index, len(self.spec.initial_trials))
        if len(launch) < free:
            pending = history
            if launch:
                pending = _with_pending(history, launch)
            suggestions: list[Suggestion] = self.suggester.suggest(pending, free - len(launch))
            for offset, suggestion in enumerate(suggestions[: free - len(launch)]):
                index = next_index + offset
                attributes = self._checked_attributes(suggestion, index)
                budget = self._full_budget() if suggestion.budget is None else suggestion.budget
                launch.append(NewTrial(index, suggestion.params, budget, attributes))
        return launch

    def _full_budget(self) -> float | None:
        """What a trial trains with when nothing hands it a share: the whole resource. An
        initial trial, or a trial of an algorithm that is not multi-fidelity, in a study with
        ``budget.resource`` still reads ``${budget}`` (found by fuzzing: it had none)."""
        resource = self.spec.budget.resource
        return None if resource is None else resource.max

    def _checked_attributes(self, suggestion: Suggestion, index: int) -> dict[str, AttributeValue]:
        source = suggestion.restore_from
        if source is not None and not 0 <= source < index:
            raise InvalidSuggestion(
                f"algorithm {self.spec.algorithm.name} suggested trial {index} restoring from "
                f"trial {source}, which is not an earlier trial of the study; this is a bug in "
                "the algorithm, not in the study"
            )
        attributes = dict(suggestion.attributes)
        if source is not None:
            attributes[RESTORE_ATTRIBUTE] = trial_name(self.study_name, source)
        try:
            return check_attributes(attributes)
        except InvalidAttributes as error:
            raise InvalidSuggestion(
                f"algorithm {self.spec.algorithm.name} suggested trial {index} with attributes "
                f"outside kubetune's bounds ({error}); this is a bug in the algorithm, "
                "not in the study"
            ) from None


def _with_pending(history: History, launch: Sequence[NewTrial]) -> History:
    """The history plus trials about to start, so the suggester does not pick them again."""
    extra = tuple(
        TrialRecord(
            index=t.index,
            params=t.params,
            state=TrialState.RUNNING,
            budget=t.budget,
            attributes=t.attributes,
        )
        for t in launch
    )
    return History(history.trials + extra, history.objectives, history.constraints, history.issued)
