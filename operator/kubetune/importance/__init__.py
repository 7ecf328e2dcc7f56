"""Which parameters matter: a functional-ANOVA-family importance for each objective of a study.

Two methods, both in the family that splits the objective's variation among the parameters:

``ped-anova`` (the default)
    PED-ANOVA (Watanabe et al., IJCAI 2023). A parameter matters as much as the distribution
    of its values among the best trials (the top ``target_quantile``, 10 % by default) differs
    from its distribution over all trials, measured by the Pearson divergence
    ``sum (q - p)² / p``. Both distributions are Parzen (kernel) estimates on the unit-cube
    encoding of ``space.py``, discretized into cells. No model is fitted: milliseconds for
    hundreds of trials, about a second for 10,000 trials of 64 parameters (mostly encoding
    them). And as it looks only at which trials are in the top set, it depends only on the
    *order* of the losses: any increasing transform of the objective (scale, shift, log)
    gives the same answer.

``fanova``
    fANOVA (Hutter et al., ICML 2014) over a random forest fitted here with numpy: a
    parameter's importance is the variance of the forest's prediction as a function of that
    parameter alone (the others averaged out), as a share of the prediction's total variance.
    It needs a model (a few seconds for a few hundred trials; trials beyond
    ``FanovaSettings.max_trials`` are subsampled) and looks at the whole range of the loss,
    not only the best trials.

The two answer different questions: PED-ANOVA "which parameters must be set right to be among
the best", fANOVA "which parameters move the loss the most over the space". On the quality
suite each agrees with Optuna's evaluator of the same name (docs/benchmarks.md, "Parameter
importance"), except where Optuna's fANOVA measures log-scaled parameters on their raw scale.

Conditional parameters (``when``): a parameter inactive in a trial is given its own level,
"inactive", next to its values. PED-ANOVA adds that level as one more cell of both
distributions, so a condition that keeps a parameter off in the best trials makes it
important (switching it off is a way of setting it). fANOVA encodes the level as a stretch of
the parameter's axis below its values, as long (as a share of the axis) as the share of
trials in which the parameter was inactive, so the forest can split on it and the
decomposition weighs it as often as it occurred.

Importances are shares: for each objective they are non-negative and sum to 1 (each method's
raw scores divided by their sum), ordered most important first. When no importance can be
computed (no completed trial, too few, an objective that never changed), the list is empty
and ``reason`` says why. Only completed trials count; a completed trial without a finite
value for the objective is left out and counted in ``dropped``. Multi-objective studies get
one result per objective, each from that objective's own values. Losses are minimized
(``History`` negates maximized metrics), so "top" always means "best".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kubetune.api.study import Objective
from kubetune.history import History, TrialState
from kubetune.importance._fanova import FanovaSettings, fanova_scores
from kubetune.importance._ped_anova import PedAnovaSettings, ped_anova_scores
from kubetune.space import SearchSpace

__all__ = [
    "MIN_TRIALS",
    "FanovaSettings",
    "ImportanceMethod",
    "ObjectiveImportance",
    "ParameterImportance",
    "PedAnovaSettings",
    "parameter_importance",
]

MIN_TRIALS = 3
"""Fewest usable trials an importance is computed from: with fewer, the best trials and all
trials are nearly the same set and any order would be noise."""


class ImportanceMethod(enum.StrEnum):
    PED_ANOVA = "ped-anova"
    FANOVA = "fanova"


@dataclass(frozen=True)
class ParameterImportance:
    name: str
    importance: float
    """Share of the objective's variation due to this parameter; shares sum to 1."""


@dataclass(frozen=True)
class ObjectiveImportance:
    """The importances of every parameter for one objective, most important first."""

    objective: Objective
    importances: tuple[ParameterImportance, ...]
    used: int
    """Completed trials with a finite value for this objective: what the importances rest on."""
    dropped: int
    """Completed trials left out because this objective's value was missing or not finite."""
    reason: str | None = None
    """Why ``importances`` is empty; None when they were computed."""
    first_order: float | None = None
    """fANOVA only: the share of the model's variance that single parameters explain (the sum
    of the raw scores, before they are scaled to sum to 1); the rest comes from interactions."""


def parameter_importance(
    space: SearchSpace,
    history: History,
    method: ImportanceMethod = ImportanceMethod.PED_ANOVA,
    seed: int = 0,
    ped_anova: PedAnovaSettings | None = None,
    fanova: FanovaSettings | None = None,
) -> tuple[ObjectiveImportance, ...]:
    """One result per objective of ``history``; deterministic for a given ``seed``."""
    # Encoded once for all objectives: at 10,000 trials encoding takes longer than scoring.
    encoded = {t.index: space.encode(t.params) for t in history.with_states(TrialState.COMPLETE)}
    return tuple(
        _objective_importance(
            space,
            encoded,
            History(history.trials, (objective,)),
            method,
            seed,
            ped_anova or PedAnovaSettings(),
            fanova or FanovaSettings(),
        )
        for objective in history.objectives
    )


def _objective_importance(
    space: SearchSpace,
    encoded: Mapping[int, np.ndarray],
    single: History,
    method: ImportanceMethod,
    seed: int,
    ped_anova: PedAnovaSettings,
    fanova: FanovaSettings,
) -> ObjectiveImportance:
    objective = single.objectives[0]
    used = single.completed
    x = np.array([encoded[t.index] for t in used]).reshape(len(used), space.dims)
    y = np.array([single.loss(t) for t in used], dtype=float)
    dropped = len(encoded) - len(used)
    reason = _why_not(space, y, objective)
    if reason is not None:
        return ObjectiveImportance(objective, (), len(y), dropped, reason)
    if method is ImportanceMethod.PED_ANOVA:
        scores = ped_anova_scores(space, x, y, ped_anova)
    else:
        scores = fanova_scores(space, x, y, np.random.default_rng(seed), fanova)
    total = float(scores.sum())
    if not total > 0.0:
        reason = f"no parameter explains the changes of {objective.metric!r} in {len(y)} trials"
        return ObjectiveImportance(objective, (), len(y), dropped, reason)
    shares = [
        ParameterImportance(name, float(score / total))
        for name, score in zip(space.names, scores, strict=True)
    ]
    ordered = sorted(shares, key=lambda p: -p.importance)  # stable: ties keep space order
    first_order = min(total, 1.0) if method is ImportanceMethod.FANOVA else None
    return ObjectiveImportance(objective, tuple(ordered), len(y), dropped, None, first_order)


def _why_not(space: SearchSpace, y: np.ndarray, objective: Objective) -> str | None:
    metric = objective.metric
    if space.dims == 0:
        return "the study has no parameters"
    if len(y) == 0:
        return f"no completed trial has a finite value of {metric!r} yet"
    if len(y) < MIN_TRIALS:
        return (
            f"{len(y)} completed trial(s) with a finite {metric!r}: importance needs at least "
            f"{MIN_TRIALS}"
        )
    if float(np.ptp(y)) == 0.0:
        return f"{metric!r} has the same value in all {len(y)} trials"
    return None
