"""Suggestion algorithms, one module each, behind the ``Suggester`` contract of ``base``.

``create`` turns a manifest's ``algorithm: {name, settings}`` into a ready suggester and turns
bad settings into errors that name the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kubetune.algorithms._asha import Asha
from kubetune.algorithms._bayesopt import BayesOpt
from kubetune.algorithms._cmaes import CmaEs
from kubetune.algorithms._grid import GridSearch
from kubetune.algorithms._hyperband import Hyperband
from kubetune.algorithms._nsga2 import Nsga2
from kubetune.algorithms._random import RandomSearch
from kubetune.algorithms._sobol import SobolSearch
from kubetune.algorithms._tpe import Tpe
from kubetune.algorithms.base import (
    AlgorithmSettings,
    History,
    IntermediateValue,
    StopDecision,
    Suggester,
    Suggestion,
    TrialRecord,
    TrialState,
)
from kubetune.space import SearchSpace

ALGORITHMS: dict[str, type[Suggester]] = {
    "random": RandomSearch,
    "grid": GridSearch,
    "sobol": SobolSearch,
    "asha": Asha,
    "hyperband": Hyperband,
    "bayesopt": BayesOpt,
    "tpe": Tpe,
    "cmaes": CmaEs,
    "nsga2": Nsga2,
}


class SettingsError(ValueError):
    """Algorithm settings that do not fit the algorithm; the message names each bad field."""


def parse_settings(name: str, settings: Mapping[str, Any]) -> AlgorithmSettings:
    algorithm = ALGORITHMS.get(name)
    if algorithm is None:
        raise SettingsError(
            f"spec.algorithm.name: {name!r} is not available; choose one of {sorted(ALGORITHMS)}"
        )
    try:
        return algorithm.Settings.model_validate(dict(settings))
    except ValidationError as error:
        problems = "; ".join(
            f"spec.algorithm.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(problems) from None


def create(name: str, space: SearchSpace, settings: Mapping[str, Any], seed: int) -> Suggester:
    """A suggester for a manifest's algorithm section; raises SettingsError or SpaceError."""
    return ALGORITHMS[name](space, parse_settings(name, settings), seed)


__all__ = [
    "ALGORITHMS",
    "AlgorithmSettings",
    "History",
    "IntermediateValue",
    "SettingsError",
    "StopDecision",
    "Suggester",
    "Suggestion",
    "TrialRecord",
    "TrialState",
    "create",
    "parse_settings",
]
