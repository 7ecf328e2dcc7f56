"""What bayesopt's acquisition search maximizes: a score of the models' posteriors at points.

The search (``_bayesopt``) only needs a score and its gradient at unit-cube points; each
score turns them into GP inputs, asks its models and combines their posteriors:

* ``Improvement``: one objective, (log) expected improvement or UCB (``_acquisition``);
* ``HypervolumeImprovement``: several objectives, one GP each, log expected hypervolume
  improvement (``_ehvi``);
* ``Feasible``: constraints, one GP each, adds the log probability that every constraint holds
  (a product of probabilities: the constraint models are independent) to the score of the
  objectives, or is the whole score while no trial is feasible yet (then the search goes
  where a feasible trial is most likely).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kubetune.algorithms._acquisition import (
    Acquisition,
    evaluate,
    log_feasibility,
    log_feasibility_with_gradient,
)
from kubetune.algorithms._ehvi import Cells, log_ehvi, log_ehvi_with_gradient
from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._gp import GaussianProcess


def features(geometry: Geometry, x: np.ndarray) -> np.ndarray:
    """GP inputs: numeric coordinates (inactive -> 0.5), categories as indices (inactive -> -1)."""
    out = np.nan_to_num(x, nan=0.5)
    for dim in np.flatnonzero(geometry.categorical):
        out[:, dim] = geometry.category(x, int(dim))
    return np.asarray(out)


class Score(abc.ABC):
    """A function of unit-cube points (m, d) to maximize, with its gradient."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry

    @abc.abstractmethod
    def value(self, x: np.ndarray) -> np.ndarray:
        """Scores (m,)."""

    @abc.abstractmethod
    def with_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (m,) and their gradients (m, d) in the numeric coordinates."""


@dataclass(frozen=True)
class Goal:
    """What a candidate's loss must beat: ``best`` (a constant, in standardized units), or
    with ``reference`` set, the model's value at that point plus ``best``."""

    best: float
    reference: np.ndarray | None = None


class Improvement(Score):
    """One objective: the acquisition of its GP's posterior against a goal."""

    def __init__(
        self,
        geometry: Geometry,
        gp: GaussianProcess,
        goal: Goal,
        kind: Acquisition,
        beta: float,
    ) -> None:
        super().__init__(geometry)
        self.gp, self.goal, self.kind, self.beta = gp, goal, kind, beta

    def _posterior(
        self, x: np.ndarray, gradient: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Mean and variance of the loss at ``x`` (of its difference to the reference's, with
        a joint goal), and their gradients when asked."""
        inputs = features(self.geometry, x)
        if self.goal.reference is not None:
            return self.gp.predict_difference(inputs, self.goal.reference, gradient)
        if gradient:
            return self.gp.predict_with_gradient(inputs)
        mean, var = self.gp.predict(inputs)
        return mean, var, None, None

    def value(self, x: np.ndarray) -> np.ndarray:
        mean, var, _, _ = self._posterior(x, gradient=False)
        return evaluate(self.kind, mean, var, self.goal.best, self.beta)[0]

    def with_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var, dmean, dvar = self._posterior(x, gradient=True)
        value, grad = evaluate(self.kind, mean, var, self.goal.best, self.beta, dmean, dvar)
        if grad is None:  # evaluate returns a gradient whenever it is given dmean/dvar
            raise RuntimeError("the acquisition gave no gradient")
        return value, grad


class HypervolumeImprovement(Score):
    """Several objectives: log EHVI of independent GPs over the front's cells."""

    def __init__(self, geometry: Geometry, gps: Sequence[GaussianProcess], region: Cells) -> None:
        super().__init__(geometry)
        self.gps, self.region = tuple(gps), region

    def value(self, x: np.ndarray) -> np.ndarray:
        inputs = features(self.geometry, x)
        stats = [gp.predict(inputs) for gp in self.gps]
        mean = np.column_stack([s[0] for s in stats])
        var = np.column_stack([s[1] for s in stats])
        return log_ehvi(mean, var, self.region)

    def with_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = features(self.geometry, x)
        stats = [gp.predict_with_gradient(inputs) for gp in self.gps]
        mean = np.column_stack([s[0] for s in stats])
        var = np.column_stack([s[1] for s in stats])
        value, dmean, dvar = log_ehvi_with_gradient(mean, var, self.region)
        grad = sum(
            (dmean[:, j, None] * s[2] + dvar[:, j, None] * s[3] for j, s in enumerate(stats)),
            start=np.zeros_like(x),
        )
        return value, np.nan_to_num(grad)


class Feasible(Score):
    """Constraints: the log probability that every constraint holds, plus ``base``'s score
    (log EI or log EHVI: their product with the probability, in log space) when given."""

    def __init__(
        self,
        geometry: Geometry,
        gps: Sequence[GaussianProcess],
        limits: Sequence[float],
        base: Score | None,
    ) -> None:
        super().__init__(geometry)
        self.gps, self.limits, self.base = tuple(gps), tuple(limits), base

    def value(self, x: np.ndarray) -> np.ndarray:
        inputs = features(self.geometry, x)
        total = np.zeros(len(x)) if self.base is None else self.base.value(x)
        for gp, limit in zip(self.gps, self.limits, strict=True):
            mean, var = gp.predict(inputs)
            total = total + log_feasibility(mean, var, limit)
        return total

    def with_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = features(self.geometry, x)
        if self.base is None:
            total, grad = np.zeros(len(x)), np.zeros_like(x)
        else:
            total, grad = self.base.with_gradient(x)
        for gp, limit in zip(self.gps, self.limits, strict=True):
            mean, var, dmean, dvar = gp.predict_with_gradient(inputs)
            value, dvalue = log_feasibility_with_gradient(mean, var, limit, dmean, dvar)
            total, grad = total + value, grad + dvalue
        return total, grad
