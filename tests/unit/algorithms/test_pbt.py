"""pbt: segments as trials, exploit/explore, lineage in attributes, synchronous generations,
failed members, checkpoint retention, restart safety and the study checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import LOSS, spaces

from kubetune.algorithms import History, Suggestion, TrialRecord, TrialState, create
from kubetune.algorithms._pbt import Pbt, quantile_count
from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import InvalidSuggestion, Planner, TrialSnapshot
from kubetune.space import SearchSpace, Value
from kubetune.validation import InvalidStudy, parse_study

MEMBER, GENERATION = LineageAttribute.MEMBER, LineageAttribute.GENERATION
PARENT, EXPLOITED = LineageAttribute.PARENT, LineageAttribute.EXPLOITED

PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "width", "type": "int", "low": 8, "high": 64, "step": 8},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
]
RESOURCE = {"name": "epochs", "min": 2, "max": 10}
SETTINGS = {"populationSize": 4, "perturbationInterval": 2}
SEGMENTS = 5  # budgets 2, 4, 6, 8, 10


def manifest(settings: Mapping[str, Any] = SETTINGS, **budget: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "pbt"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": PARAMETERS,
            "algorithm": {"name": "pbt", "settings": dict(settings)},
            "budget": {"maxTrials": 4 * SEGMENTS, "resource": RESOURCE, **budget},
            "seed": 3,
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["x"]}]}}}
            },
        },
    }


def spec(settings: Mapping[str, Any] = SETTINGS, **budget: Any) -> StudySpec:
    return parse_study(manifest(settings, **budget)).spec


def moving_optimum(params: Mapping[str, Value], budget: float) -> float:
    """Loss whose best learning rate falls as training goes on (0.1 early, 0.001 late)."""
    best = math.log10(0.1) - 2 * budget / 10
    return (math.log10(float(params["lr"])) - best) ** 2 + (params["optimizer"] == "sgd") * 0.1


Recorded = list[tuple[History, int, list[Suggestion]]]


def drive(
    study: StudySpec,
    finish_order_seed: int = 0,
    fails: Callable[[TrialSnapshot], bool] = lambda t: False,
    parallel: int | None = None,
    stop_after: int | None = None,
    trials: dict[int, TrialSnapshot] | None = None,
) -> tuple[dict[int, TrialSnapshot], Recorded]:
    """Run a study through the planner as a backend would; trials finish in a seeded order.
    Every suggest call is recorded (history, n, answer)."""
    if parallel is not None:
        study = study.model_copy(
            update={"budget": study.budget.model_copy(update={"parallel_trials": parallel})}
        )
    planner = Planner(study, "pbt")
    recorded: Recorded = []
    suggest = planner.suggester.suggest

    def recording(history: History, n: int) -> list[Suggestion]:
        answer = suggest(history, n)
        recorded.append((history, n, answer))
        return answer

    planner.suggester.suggest = recording  # type: ignore[method-assign]
    trials = dict(trials or {})
    order = np.random.default_rng(finish_order_seed)
    while stop_after is None or len(trials) < stop_after:
        decision = planner.decide(list(trials.values()))
        for new in decision.launch:
            trials[new.index] = TrialSnapshot(
                new.index, new.params, TrialPhase.RUNNING, budget=new.budget,
                attributes=new.attributes,
            )  # fmt: skip
        if decision.ending is not None:
            break
        running = [t for t in trials.values() if t.phase is TrialPhase.RUNNING]
        for done in order.permutation(len(running))[: order.integers(1, len(running) + 1)]:
            t = running[done]
            if fails(t):
                trials[t.index] = TrialSnapshot(
                    t.index, t.params, TrialPhase.FAILED, budget=t.budget, attributes=t.attributes
                )
            else:
                value = {"loss": moving_optimum(t.params, t.budget or 0)}
                trials[t.index] = TrialSnapshot(
                    t.index, t.params, TrialPhase.SUCCEEDED, value, budget=t.budget,
                    attributes=t.attributes,
                )  # fmt: skip
    return trials, recorded


def lineage(trials: Mapping[int, TrialSnapshot]) -> dict[int, tuple[Any, ...]]:
    return {
        i: (
            dict(t.params), t.budget, t.attributes.get(MEMBER), t.attributes.get(GENERATION),
            t.attributes.get(PARENT), t.attributes.get(EXPLOITED),
            t.attributes.get(RESTORE_ATTRIBUTE),
        )
        for i, t in sorted(trials.items())
    }  # fmt: skip


# -- a whole study --------------------------------------------------------------------------


@pytest.mark.parametrize("synchronous", [False, True])
@pytest.mark.parametrize("parallel", [1, 3, 4])
def test_every_member_trains_every_segment_and_the_lineage_holds(
    synchronous: bool, parallel: int
) -> None:
    trials, _ = drive(spec({**SETTINGS, "synchronous": synchronous}), parallel=parallel)
    assert len(trials) == 4 * SEGMENTS  # maxTrials = population × segments, none left over
    assert all(t.phase is TrialPhase.SUCCEEDED for t in trials.values())
    for index, trial in trials.items():
        generation = trial.attributes[GENERATION]
        assert trial.budget == 2 + 2 * generation
        if generation == 0:
            assert PARENT not in trial.attributes and RESTORE_ATTRIBUTE not in trial.attributes
            continue
        parent = trials[int(trial.attributes[PARENT])]
        assert parent.index < index and parent.phase is TrialPhase.SUCCEEDED
        assert parent.attributes[GENERATION] == generation - 1
        assert trial.attributes[RESTORE_ATTRIBUTE] == f"pbt-{parent.index}"
        same_member = parent.attributes[MEMBER] == trial.attributes[MEMBER]
        assert trial.attributes[EXPLOITED] is (not same_member)
        if same_member:
            assert trial.params == parent.params
    finals = [t for t in trials.values() if t.budget == 10]
    assert sorted(t.attributes[MEMBER] for t in finals) == [0, 1, 2, 3]
    assert any(t.attributes.get(EXPLOITED) for t in trials.values())


def test_the_population_follows_a_moving_optimum() -> None:
    """The late optimum (lr 0.001) is far from the early one (0.1): the members' final
    hyperparameters are better for the end of training than the ones they were drawn with."""
    trials, _ = drive(spec({"populationSize": 8, "perturbationInterval": 2}, maxTrials=40))
    drawn = [moving_optimum(t.params, 10) for t in trials.values() if t.budget == 2]
    final = [t.values["loss"] for t in trials.values() if t.budget == 10]
    assert np.median(final) < np.median(drawn)


def test_synchronous_members_wait_for_their_generation() -> None:
    _, recorded = drive(spec({**SETTINGS, "synchronous": True}), parallel=4, finish_order_seed=2)
    for history, _, answer in recorded:
        finished = [t for t in history.trials if t.state is TrialState.COMPLETE]
        for suggestion in answer:
            generation = int(suggestion.attributes[GENERATION])
            # every member has finished the generation before the new trial's
            for member in range(4):
                done = [t for t in finished if t.attributes[MEMBER] == member]
                assert max((int(t.attributes[GENERATION]) for t in done), default=-1) >= (
                    generation - 1
                ) or not any(t.attributes[MEMBER] == member for t in history.trials)


# -- restart safety -------------------------------------------------------------------------


@pytest.mark.parametrize("synchronous", [False, True])
def test_a_restarted_suggester_answers_every_recorded_history_the_same(synchronous: bool) -> None:
    """Same history + seed, same suggestion: an operator restarted at any call continues the
    same lineage."""
    study = spec({**SETTINGS, "synchronous": synchronous})
    _, recorded = drive(study, finish_order_seed=4, parallel=3)
    for history, n, answer in recorded:
        assert Planner(study, "pbt").suggester.suggest(history, n) == answer


def test_a_study_killed_midway_and_resumed_has_the_lineage_of_one_never_killed() -> None:
    study = spec()
    straight, _ = drive(study, finish_order_seed=7, parallel=2)
    partial, _ = drive(study, finish_order_seed=7, parallel=2, stop_after=9)
    # A restart forgets the running trials' progress but not the trials themselves.
    resumed, _ = drive(study, finish_order_seed=7, parallel=2, trials=partial)
    assert lineage(resumed)[8] == lineage(straight)[8]
    assert {i: lineage(resumed)[i] for i in range(9)} == {i: lineage(straight)[i] for i in range(9)}


def test_the_same_seed_and_finishing_order_give_the_same_lineage() -> None:
    assert lineage(drive(spec(), 5, parallel=3)[0]) == lineage(drive(spec(), 5, parallel=3)[0])
    assert lineage(drive(spec(), 5, parallel=3)[0]) != lineage(
        drive(spec().model_copy(update={"seed": 4}), 5, parallel=3)[0]
    )


# -- exploit and explore --------------------------------------------------------------------


def pbt(space: SearchSpace | None = None, **settings: Any) -> Pbt:
    space = space or SearchSpace.from_specs(spec().parameters)
    base = {"minResource": 2, "maxResource": 10, **SETTINGS, **settings}
    suggester = create("pbt", space, base, seed=1)
    assert isinstance(suggester, Pbt)
    return suggester


def generation_zero(losses: list[float], running: tuple[int, ...] = ()) -> History:
    """One finished first segment per member, with the given losses (member i: losses[i])."""
    space = SearchSpace.from_specs(spec().parameters)
    params = space.sample(np.random.default_rng(0), len(losses))
    return History(
        tuple(
            TrialRecord(
                i, params[i], TrialState.RUNNING if i in running else TrialState.COMPLETE,
                {} if i in running else {"loss": loss}, budget=2,
                attributes={MEMBER: i, GENERATION: 0},
            )
            for i, loss in enumerate(losses)
        ),
        LOSS,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(10))
def test_a_bottom_member_exploits_a_top_one_and_the_middle_continues(seed: int) -> None:
    losses = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]  # top: 1, 5; bottom: 2, 6
    suggester = pbt(populationSize=8)
    suggester.seed = seed
    answer = suggester.suggest(generation_zero(losses), 8)
    by_member = {int(s.attributes[MEMBER]): s for s in answer}
    history = generation_zero(losses)
    for member, suggestion in by_member.items():
        if member in (2, 6):
            assert suggestion.attributes[EXPLOITED] is True
            assert suggestion.restore_from in (1, 5)
        else:
            assert suggestion.attributes[EXPLOITED] is False
            assert suggestion.restore_from == member
            assert suggestion.params == history.trials[member].params
        assert suggestion.budget == 4 and suggestion.attributes[GENERATION] == 1


def test_quantiles_never_meet() -> None:
    assert quantile_count(8, 0.25) == 2
    assert quantile_count(1, 0.5) == 0
    assert quantile_count(3, 0.5) == 1
    assert quantile_count(5, 0.01) == 1


@settings(max_examples=80, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16), resample=st.sampled_from([0.0, 0.25, 1.0]))
def test_explored_parameters_stay_in_the_space(
    space: SearchSpace, seed: int, resample: float
) -> None:
    suggester = pbt(space, resampleProbability=resample, perturbationFactors=[0.5, 3.0])
    rng = np.random.default_rng(seed)
    for params in space.sample(rng, 5):
        explored = suggester._explore(params, rng)
        assert space.errors(explored) == []


def test_exploring_multiplies_numbers_by_a_factor_within_bounds() -> None:
    suggester = pbt(resampleProbability=0.0, perturbationFactors=[0.5, 2.0])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        explored = suggester._explore({"lr": 0.01, "width": 64, "optimizer": "adam"}, rng)
        seen.add(explored["lr"])
        assert explored["width"] in (32, 64)  # 128 is clipped to the bound
        assert explored["optimizer"] == "adam"  # categoricals only change when resampled
    assert seen == {0.005, 0.02}


# -- failed members, the end, retention ------------------------------------------------------


def test_a_failed_segment_is_trained_again_from_the_best_of_the_generation_before() -> None:
    history = generation_zero([0.5, 0.1, 0.9, 0.3])
    failed = TrialRecord(
        4, history.trials[2].params, TrialState.FAILED, budget=4,
        attributes={MEMBER: 2, GENERATION: 1, PARENT: 2, EXPLOITED: False},
    )  # fmt: skip
    answer = pbt().suggest(History((*history.trials, failed), LOSS), 4)
    retrained = next(s for s in answer if s.attributes[MEMBER] == 2)
    assert retrained.restore_from == 1 and retrained.attributes[EXPLOITED] is True
    assert retrained.attributes[GENERATION] == 1 and retrained.budget == 4


def test_a_failed_first_segment_starts_afresh() -> None:
    history = generation_zero([0.5, 0.1, 0.9, 0.3])
    records = list(history.trials)
    first = records[2]
    records[2] = TrialRecord(2, first.params, TrialState.FAILED, attributes=first.attributes)
    answer = pbt().suggest(History(tuple(records), LOSS), 4)
    restarted = next(s for s in answer if s.attributes[MEMBER] == 2)
    assert restarted.restore_from is None and restarted.attributes == {MEMBER: 2, GENERATION: 0}
    assert restarted.params != records[2].params


def test_failing_segments_keep_the_study_going_until_the_budget_is_spent() -> None:
    trials, _ = drive(spec(), fails=lambda t: t.index % 7 == 3, parallel=2)
    assert len(trials) == 4 * SEGMENTS
    for trial in trials.values():
        parent = trial.attributes.get(PARENT)
        if parent is not None:
            assert trials[int(parent)].phase is TrialPhase.SUCCEEDED


def test_the_study_ends_when_every_member_reached_the_end() -> None:
    study = spec(maxTrials=100)
    trials, _ = drive(study)
    assert len(trials) == 4 * SEGMENTS
    decision = Planner(study, "pbt").decide(list(trials.values()))
    assert decision.ending is not None
    assert "every member of the population (4) trained to resource.max (10)" in (
        decision.ending.message
    )


def test_only_checkpoints_a_later_trial_may_restore_from_are_kept() -> None:
    history = generation_zero([0.5, 0.1, 0.9, 0.3], running=(3,))
    suggester = pbt()
    assert suggester.checkpoints_needed(history) == {0, 1, 2, 3}
    study = spec()
    trials, _ = drive(study)
    planner = Planner(study, "pbt")
    final = {t.index for t in trials.values() if t.budget == 10}
    best = planner.summarize(list(trials.values())).best_index
    assert planner.checkpoints_needed(list(trials.values())) == final | {best}
    kept = Planner(spec({**SETTINGS, "keepCheckpoints": "all"}), "pbt")
    assert kept.checkpoints_needed(list(trials.values())) is None


# -- the study checks ----------------------------------------------------------------------


def test_pbt_without_a_training_resource_is_refused_naming_the_field() -> None:
    document = manifest()
    del document["spec"]["budget"]["resource"]
    with pytest.raises(InvalidStudy, match=r"spec.budget.resource: pbt hands out a training"):
        parse_study(document)


def test_a_population_larger_than_max_trials_allows_is_refused_naming_the_fields() -> None:
    with pytest.raises(InvalidStudy) as error:
        parse_study(manifest(maxTrials=19))
    assert str(error.value) == (
        "spec.algorithm.settings.populationSize: 4 members × 5 segments (resource 2 to 10, "
        "every perturbationInterval 2) need 20 trials, more than spec.budget.maxTrials (19): "
        "raise maxTrials to 20, lower populationSize to 3 or lengthen perturbationInterval"
    )


def test_initial_trials_are_refused() -> None:
    document = manifest()
    document["spec"]["initialTrials"] = [{"lr": 0.1, "width": 8, "optimizer": "sgd"}]
    with pytest.raises(InvalidStudy, match=r"spec.initialTrials: pbt draws its population"):
        parse_study(document)


def test_early_stopping_is_refused() -> None:
    document = manifest()
    document["spec"]["earlyStopping"] = {"rule": "median"}
    with pytest.raises(InvalidStudy, match=r"spec.earlyStopping.rule: pbt judges every segment"):
        parse_study(document)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"populationSize": 1}, "populationSize"),
        ({"quantile": 0.6}, "quantile"),
        ({"quantile": 0}, "quantile"),
        ({"resampleProbability": 1.5}, "resampleProbability"),
        ({"perturbationFactors": []}, "perturbationFactors"),
        ({"perturbationFactors": [0.8, -1]}, "perturbationFactors"),
        ({"perturbationInterval": 0}, "perturbationInterval"),
        ({"keepCheckpoints": "some"}, "keepCheckpoints"),
    ],
)
def test_bad_settings_name_their_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStudy, match=rf"spec.algorithm.settings.{field}"):
        parse_study(manifest(settings))


def test_the_default_interval_is_the_first_segment() -> None:
    suggester = pbt(perturbationInterval=None)
    assert suggester.schedule.segments == 5 and suggester.schedule.budget(1) == 4


def test_the_engine_refuses_a_restore_from_a_trial_that_is_not_earlier() -> None:
    planner = Planner(spec(), "pbt")
    planner.suggester.suggest = lambda history, n: [  # type: ignore[method-assign]
        Suggestion({"lr": 0.1, "width": 8, "optimizer": "sgd"}, budget=2, restore_from=0)
    ]
    with pytest.raises(InvalidSuggestion, match="trial 0 restoring from trial 0, which is not"):
        planner.decide([])
