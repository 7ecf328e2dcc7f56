"""Katib ``spec.algorithm`` → kubetune ``spec.algorithm`` (and ``spec.seed``, and for
hyperband ``spec.budget.resource``).

Katib passes settings as ``{name, value}`` string pairs to a suggestion service (Optuna,
Hyperopt, Goptuna or scikit-optimize underneath); kubetune has typed settings per algorithm
(``Settings`` of each module in ``kubetune.algorithms``). Each Katib setting is renamed when a
kubetune setting means the same, converted when it means the same in other units, and
otherwise reported. Which algorithms exist is read from the registry at run time, so an
algorithm kubetune gains later is converted without touching this module.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from kubetune.algorithms import ALGORITHMS
from kubetune.api.study import ParameterType
from kubetune.convert.notes import ConversionError, Note, NoteKind

SOURCE = "spec.algorithm"
TARGET = "spec.algorithm"
SEED_SETTING = "random_state"
"""Every Katib algorithm's seed; kubetune has one per study, ``spec.seed``."""


class KatibAlgorithm(enum.StrEnum):
    RANDOM = "random"
    GRID = "grid"
    BAYESIAN_OPTIMIZATION = "bayesianoptimization"
    TPE = "tpe"
    MULTIVARIATE_TPE = "multivariate-tpe"
    CMAES = "cmaes"
    SOBOL = "sobol"
    HYPERBAND = "hyperband"
    PBT = "pbt"
    ENAS = "enas"
    DARTS = "darts"


PBT = "pbt"
"""kubetune's name for population-based training."""

TARGETS: dict[KatibAlgorithm, str] = {
    KatibAlgorithm.RANDOM: "random",
    KatibAlgorithm.GRID: "grid",
    KatibAlgorithm.BAYESIAN_OPTIMIZATION: "bayesopt",
    KatibAlgorithm.TPE: "tpe",
    KatibAlgorithm.MULTIVARIATE_TPE: "tpe",
    KatibAlgorithm.CMAES: "cmaes",
    KatibAlgorithm.SOBOL: "sobol",
    KatibAlgorithm.HYPERBAND: "hyperband",
    KatibAlgorithm.PBT: PBT,
}
"""The kubetune algorithm each Katib one becomes; NAS algorithms have none."""

RENAMED: dict[str, str] = {
    "n_initial_points": "nInitialTrials",  # bayesianoptimization (scikit-optimize)
    "kappa": "ucbBeta",  # scikit-optimize's LCB exploration weight
    "n_startup_trials": "nStartupTrials",  # tpe, multivariate-tpe (Optuna)
    "n_ei_candidates": "nEiCandidates",
    "n_EI_candidates": "nEiCandidates",  # tpe (Hyperopt spelling)
    "gamma": "gamma",
    "prior_weight": "priorWeight",
    "eta": "reductionFactor",  # hyperband
    "n_population": "populationSize",  # pbt
    "truncation_threshold": "quantile",
}
"""Katib settings whose kubetune setting means the same, under another name."""

NAS_REFUSAL = (
    "is neural architecture search, which kubetune does not do. Express the architecture "
    "choices as parameters instead: a categorical parameter per decision (e.g. num_layers, "
    "layer_1_op with choices [conv3x3, conv5x5, maxpool]), and 'when' on the parameters that "
    "only apply under another choice (a conditional search space, see docs/manifest.md); "
    "the training program builds the network from them."
)


@dataclass
class AlgorithmTranslation:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    resource: dict[str, Any] | None = None
    """hyperband: ``spec.budget.resource``, made from Katib's resource parameter."""
    resource_parameter: str | None = None
    """hyperband: the Katib parameter that became ``${budget}``, removed from the space."""


def scalar(value: Any) -> Any:
    """A Katib setting value (always a string there) as the number or flag it spells."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def translate_algorithm(
    algorithm: Any, parameters: Sequence[Mapping[str, Any]], notes: list[Note]
) -> AlgorithmTranslation:
    """The kubetune algorithm for Katib's ``spec.algorithm``; ``parameters`` are kubetune's."""
    if not isinstance(algorithm, Mapping) or not algorithm.get("algorithmName"):
        raise ConversionError(f"{SOURCE}.algorithmName", "required: the Katib algorithm's name")
    raw = algorithm["algorithmName"]
    try:
        katib = KatibAlgorithm(raw)
    except ValueError:
        known = ", ".join(a.value for a in KatibAlgorithm)
        raise ConversionError(
            f"{SOURCE}.algorithmName", f"{raw!r} is not a Katib algorithm; Katib has {known}"
        ) from None
    if katib in (KatibAlgorithm.ENAS, KatibAlgorithm.DARTS):
        raise ConversionError(f"{SOURCE}.algorithmName", f"{raw!r} {NAS_REFUSAL}")
    name = str(TARGETS[katib])
    if name not in ALGORITHMS:
        raise ConversionError(
            f"{SOURCE}.algorithmName",
            f"kubetune has no {name} yet (available: {', '.join(sorted(ALGORITHMS))}); "
            "pick one of those, e.g. hyperband or asha for early-ending poor trials",
        )
    translation = AlgorithmTranslation(name)
    if katib is KatibAlgorithm.TPE:
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{SOURCE}.algorithmName",
                "kubetune's tpe models the parameters jointly (multivariate-tpe); "
                "Katib's tpe models each on its own. Joint modelling did better in "
                "kubetune's benchmarks, so tpe has no independent mode",
                TARGET,
            )
        )
    settings = _settings(algorithm.get("algorithmSettings"), notes)
    special = SPECIAL.get(katib)
    for index, (key, value) in settings.items():
        source = f"{SOURCE}.algorithmSettings[{index}]"
        if key == SEED_SETTING:
            translation.seed = _seed(value, source)
            notes.append(
                Note(NoteKind.CHANGED, source, "random_state became spec.seed", "spec.seed")
            )
        elif special is None or not special(translation, key, value, source, parameters, notes):
            _generic(translation, key, value, source, notes)
    if katib is KatibAlgorithm.HYPERBAND:
        _hyperband_resource(translation, settings, parameters, notes)
    return translation


def _settings(raw: Any, notes: list[Note]) -> dict[int, tuple[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ConversionError(f"{SOURCE}.algorithmSettings", "expected a list of {name, value}")
    settings = {}
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ConversionError(f"{SOURCE}.algorithmSettings[{i}]", "expected {name, value}")
        settings[i] = (item["name"], scalar(item.get("value")))
    return settings


def _seed(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConversionError(source, f"random_state must be a whole number >= 0, got {value!r}")
    return value


def _generic(
    translation: AlgorithmTranslation, key: str, value: Any, source: str, notes: list[Note]
) -> None:
    """A setting kubetune has under Katib's name (camelCased) or a known other name."""
    settings_model = ALGORITHMS[translation.name].Settings
    aliases = {f.alias or to_camel(n) for n, f in settings_model.model_fields.items()}
    alias = RENAMED.get(key, to_camel(key))
    if alias not in aliases:
        notes.append(
            Note(
                NoteKind.DROPPED,
                source,
                f"{translation.name} has no equivalent of {key!r}; its settings are "
                f"{', '.join(sorted(aliases))} (docs/algorithms.md)",
                TARGET,
            )
        )
        return
    problem = _setting_problem(settings_model, alias, value)
    if problem is not None:
        notes.append(
            Note(NoteKind.DROPPED, source, f"{key}={value!r} → {alias}: {problem}", TARGET)
        )
        return
    translation.settings[alias] = value
    if alias != key:
        notes.append(Note(NoteKind.CHANGED, source, f"{key} became {alias}", TARGET))


def _setting_problem(model: Any, alias: str, value: Any) -> str | None:
    """Why kubetune rejects this one setting's value, ignoring the other settings."""
    try:
        model.model_validate({alias: value})
    except ValidationError as error:
        for problem in error.errors():
            if problem["loc"] and problem["loc"][0] == alias:
                return str(problem["msg"])
    return None


def _bayesopt(
    translation: AlgorithmTranslation,
    key: str,
    value: Any,
    source: str,
    parameters: Sequence[Mapping[str, Any]],
    notes: list[Note],
) -> bool:
    if key == "acq_func":
        acquisition = {"EI": "ei", "LCB": "ucb"}.get(str(value))
        if acquisition is None:
            notes.append(
                Note(
                    NoteKind.APPROXIMATED,
                    source,
                    f"kubetune has no {value} acquisition; it uses logei (log "
                    "expected improvement); ei and ucb (LCB) are the others",
                    TARGET,
                )
            )
        else:
            translation.settings["acquisition"] = acquisition
            notes.append(Note(NoteKind.CHANGED, source, f"{value} became {acquisition}", TARGET))
        return True
    if key == "base_estimator":
        if str(value) != "GP":
            notes.append(
                Note(
                    NoteKind.APPROXIMATED,
                    source,
                    f"kubetune's bayesopt always models the loss with a Gaussian "
                    f"process, not {value}",
                    TARGET,
                )
            )
        return True
    if key == "acq_optimizer":
        notes.append(
            Note(
                NoteKind.DROPPED,
                source,
                "kubetune chooses how to optimize the acquisition itself",
                TARGET,
            )
        )
        return True
    return False


def _cmaes(
    translation: AlgorithmTranslation,
    key: str,
    value: Any,
    source: str,
    parameters: Sequence[Mapping[str, Any]],
    notes: list[Note],
) -> bool:
    if key == "sigma":
        widths = [
            float(p["high"]) - float(p["low"])
            for p in parameters
            if p["type"] != ParameterType.CATEGORICAL and not p.get("log")
        ]
        if not isinstance(value, int | float) or value <= 0 or not widths:
            notes.append(Note(NoteKind.DROPPED, source, f"sigma {value!r} not convertible", TARGET))
            return True
        sigma0 = min(1.0, float(value) / min(widths))
        translation.settings["sigma0"] = sigma0
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                source,
                f"Katib's sigma ({value}) is in the parameters' units, kubetune's "
                f"sigma0 a fraction of each range: {sigma0:.4g} (sigma over the "
                "narrowest linear range)",
                TARGET,
            )
        )
        return True
    if key == "restart_strategy" and str(value) == "bipop":
        translation.settings["restartStrategy"] = "ipop"
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                source,
                "kubetune restarts CMA-ES with IPOP only: bipop became ipop",
                TARGET,
            )
        )
        return True
    return False


def _hyperband(
    translation: AlgorithmTranslation,
    key: str,
    value: Any,
    source: str,
    parameters: Sequence[Mapping[str, Any]],
    notes: list[Note],
) -> bool:
    return key in ("resource_name", "r_l")  # read together by _hyperband_resource


def _hyperband_resource(
    translation: AlgorithmTranslation,
    settings: Mapping[int, tuple[str, Any]],
    parameters: Sequence[Mapping[str, Any]],
    notes: list[Note],
) -> None:
    """Katib's resource parameter becomes ``spec.budget.resource`` and ``${budget}``."""
    by_key = {key: (index, value) for index, (key, value) in settings.items()}
    if "resource_name" not in by_key:
        raise ConversionError(
            f"{SOURCE}.algorithmSettings", "hyperband needs resource_name: the parameter it scales"
        )
    index, name = by_key["resource_name"]
    parameter = next((p for p in parameters if p["name"] == name), None)
    if parameter is None:
        raise ConversionError(
            f"{SOURCE}.algorithmSettings[{index}]",
            f"resource_name {name!r} names no parameter; add it to spec.parameters",
        )
    eta = float(translation.settings.get("reductionFactor", 3.0))
    maximum = by_key["r_l"][1] if "r_l" in by_key else parameter.get("high")
    if not isinstance(maximum, int | float) or isinstance(maximum, bool) or maximum <= 0:
        raise ConversionError(
            f"{SOURCE}.algorithmSettings",
            f"hyperband needs r_l, the largest resource (> 0); got {maximum!r}",
        )
    rungs = math.floor(math.log(maximum) / math.log(eta) + 1e-9) if maximum > 1 else 0
    minimum = maximum / eta**rungs if rungs else maximum / eta
    translation.resource = {"name": str(name), "min": _tidy(minimum), "max": _tidy(maximum)}
    translation.resource_parameter = str(name)
    notes.append(
        Note(
            NoteKind.CHANGED,
            f"{SOURCE}.algorithmSettings[{index}]",
            f"the resource parameter {name!r} became spec.budget.resource "
            f"(min {minimum:g} = r_l / eta^{rungs}, max r_l = {maximum:g}); the "
            "trial reads it as ${budget}",
            "spec.budget",
        )
    )


def _tidy(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


Special = Callable[
    [AlgorithmTranslation, str, Any, str, Sequence[Mapping[str, Any]], list[Note]], bool
]
SPECIAL: dict[KatibAlgorithm, Special] = {
    KatibAlgorithm.BAYESIAN_OPTIMIZATION: _bayesopt,
    KatibAlgorithm.CMAES: _cmaes,
    KatibAlgorithm.HYPERBAND: _hyperband,
}
"""Settings that need more than a rename; each returns whether it handled the setting."""
