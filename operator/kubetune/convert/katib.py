"""A Katib ``kubeflow.org/v1beta1`` Experiment → a kubetune ``TuningStudy``, with notes.

``convert_experiment`` is a pure function of the parsed document: it returns the study as a
manifest dict, already checked by ``kubetune.validation``, and a ``Note`` for everything that
changed form, was approximated or was dropped, each naming the Katib field. What kubetune
refuses to fake (NAS, trial kinds other than a Job, an algorithm it lacks) and bad input
raise ``ConversionError`` naming the field. The pieces live in ``_katib_space`` (parameters),
``_katib_algorithm`` and ``_katib_template`` (trial template and metrics collection).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.api.study import API_VERSION, Direction
from kubetune.convert._katib_algorithm import (
    NAS_REFUSAL,
    AlgorithmTranslation,
    scalar,
    translate_algorithm,
)
from kubetune.convert._katib_space import convert_parameter, kubetune_name, number
from kubetune.convert._katib_template import TemplateContext, convert_template
from kubetune.convert.notes import ConversionError, Note, NoteKind
from kubetune.validation import InvalidStudy, parse_study

KATIB_API_VERSION = "kubeflow.org/v1beta1"
KATIB_KIND = "Experiment"
KATIB_PARALLEL_TRIALS = 3
"""Katib's default parallelTrialCount, made explicit in the study."""
KUBETUNE_DEFAULT_MAX_TRIALS = 20
MEDIAN_RULE = "median"
"""kubetune's rule for Katib's medianstop (the registry refuses the name if it ever goes)."""
MEDIAN_DEFAULTS = {"min_trials_required": 3, "start_step": 4}
"""Katib's medianstop defaults, made explicit because kubetune's differ."""
MEDIAN_SETTINGS = {"min_trials_required": "minTrials", "start_step": "startStep"}
CONVERTED_SPEC_FIELDS = {
    "parameters", "objective", "algorithm", "earlyStopping", "maxTrialCount",
    "parallelTrialCount", "maxFailedTrialCount", "resumePolicy", "trialTemplate",
    "metricsCollectorSpec", "nasConfig",
}  # fmt: skip
KEPT_METADATA = ("name", "namespace", "labels", "annotations")


@dataclass(frozen=True)
class Conversion:
    manifest: dict[str, Any]
    """The TuningStudy, valid for ``kubetune validate``."""
    notes: list[Note]

    @property
    def is_lossy(self) -> bool:
        """Whether anything was approximated or dropped (the study may behave differently)."""
        return any(note.kind.is_lossy for note in self.notes)


def convert_experiment(document: Any, trial_spec: Mapping[str, Any] | None = None) -> Conversion:
    """The kubetune study for a Katib Experiment; ``trial_spec`` replaces a ConfigMap's."""
    _check_kind(document)
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        raise ConversionError("spec", "required: the Experiment's spec")
    if spec.get("nasConfig") is not None:
        raise ConversionError("spec.nasConfig", f"this Experiment {NAS_REFUSAL}")
    notes: list[Note] = []
    parameters, algorithm, names = _space(spec, notes)
    objective, metrics = _objective(spec.get("objective"), notes)
    metadata = document.get("metadata") or {}
    context = TemplateContext(
        parameters=names,
        resource_parameter=algorithm.resource_parameter,
        metrics=[objective["metric"], *metrics],
        namespace=metadata.get("namespace"),
    )
    study: dict[str, Any] = {"objective": objective}
    if metrics:
        study["metrics"] = metrics
    study["parameters"] = parameters
    study["algorithm"] = {"name": algorithm.name}
    if algorithm.settings:
        study["algorithm"]["settings"] = algorithm.settings
    early_stopping = _early_stopping(spec.get("earlyStopping"), notes)
    if early_stopping is not None:
        study["earlyStopping"] = early_stopping
    study["budget"] = _budget(spec, algorithm.resource, notes)
    if algorithm.seed is not None:
        study["seed"] = algorithm.seed
    study["trialTemplate"] = convert_template(
        spec.get("trialTemplate"), spec.get("metricsCollectorSpec"), context, notes, trial_spec
    )
    _report_rest(spec, notes)
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "TuningStudy",
        "metadata": {k: metadata[k] for k in KEPT_METADATA if metadata.get(k)},
        "spec": study,
    }
    _validate(manifest)
    return Conversion(manifest, notes)


def _space(
    spec: Mapping[str, Any], notes: list[Note]
) -> tuple[list[dict[str, Any]], AlgorithmTranslation, dict[str, str]]:
    """kubetune's parameters, the algorithm, and Katib name → kubetune name.

    Hyperband's resource parameter leaves the space (it becomes ``${budget}``), so notes that
    point at parameters by position are moved to the positions they end up at.
    """
    raw_parameters = spec.get("parameters")
    if not isinstance(raw_parameters, list) or not raw_parameters:
        raise ConversionError("spec.parameters", "required: at least one parameter")
    parameters = [convert_parameter(i, p, notes) for i, p in enumerate(raw_parameters)]
    algorithm = translate_algorithm(spec.get("algorithm"), parameters, notes)
    resource = algorithm.resource_parameter
    if resource is not None:
        index = [p["name"] for p in parameters].index(resource)
        notes[:] = [
            _moved(n, index) for n in notes if not n.source.startswith(f"spec.parameters[{index}]")
        ]
    names = _rename(parameters, resource, notes)
    kept = [p for p in parameters if p["name"] != resource]
    for parameter in kept:
        parameter["name"] = names[parameter["name"]]
    return kept, algorithm, names


def _moved(note: Note, removed: int) -> Note:
    """A note that points at a parameter after the removed one points one place earlier."""
    match = re.fullmatch(r"spec\.parameters\[(\d+)\]", note.target or "")
    if match is None or int(match.group(1)) < removed:
        return note
    return dataclasses.replace(note, target=f"spec.parameters[{int(match.group(1)) - 1}]")


def _rename(
    parameters: list[dict[str, Any]], resource: str | None, notes: list[Note]
) -> dict[str, str]:
    """Katib name → kubetune name; Katib allows names such as ``--lr`` that kubetune does not."""
    names = {}
    kept = [p["name"] for p in parameters if p["name"] != resource]
    for i, parameter in enumerate(parameters):
        name = parameter["name"]
        names[name] = kubetune_name(name)
        if names[name] != name and name != resource:
            notes.append(
                Note(
                    NoteKind.CHANGED,
                    f"spec.parameters[{i}].name",
                    f"{name!r} became {names[name]!r} (a kubetune name); the "
                    "template refers to it by the new name",
                    f"spec.parameters[{kept.index(name)}]",
                )
            )
    return names


def _check_kind(document: Any) -> None:
    if not isinstance(document, Mapping):
        raise ConversionError("(document)", "expected a Katib Experiment (a YAML mapping)")
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if kind != KATIB_KIND:
        raise ConversionError(
            "kind", f"expected a Katib {KATIB_KIND}, got {kind!r}; convert Experiment manifests"
        )
    if api_version != KATIB_API_VERSION:
        raise ConversionError(
            "apiVersion",
            f"expected {KATIB_API_VERSION}, got {api_version!r}; older Katib APIs are not "
            "converted (Katib itself converts v1alpha3 to v1beta1)",
        )


def _objective(objective: Any, notes: list[Note]) -> tuple[dict[str, Any], list[str]]:
    source = "spec.objective"
    if not isinstance(objective, Mapping):
        raise ConversionError(source, "required: type and objectiveMetricName")
    try:
        direction = Direction(str(objective.get("type")))
    except ValueError:
        raise ConversionError(
            f"{source}.type", f"expected minimize or maximize, got {objective.get('type')!r}"
        ) from None
    metric = objective.get("objectiveMetricName")
    if not isinstance(metric, str) or not metric:
        raise ConversionError(f"{source}.objectiveMetricName", "required: the metric to optimize")
    result: dict[str, Any] = {"metric": metric, "direction": direction.value}
    if objective.get("goal") is not None:
        result["target"] = float(number(objective["goal"], f"{source}.goal"))
    metrics = [m for m in objective.get("additionalMetricNames") or [] if m != metric]
    if metrics:
        notes.append(
            Note(
                NoteKind.CHANGED,
                f"{source}.additionalMetricNames",
                "recorded, not optimized, as in Katib; to optimize several metrics "
                "at once (a Pareto front), list them in spec.objectives instead",
                "spec.metrics",
            )
        )
    _report_strategies(objective, metric, direction, notes)
    return result, metrics


def _report_strategies(
    objective: Mapping[str, Any], metric: str, direction: Direction, notes: list[Note]
) -> None:
    """kubetune keeps each metric's latest value; Katib's default for the objective is its best."""
    source = "spec.objective.metricStrategies"
    strategies = {
        s.get("name"): s.get("value")
        for s in objective.get("metricStrategies") or []
        if isinstance(s, Mapping)
    }
    best = "min" if direction is Direction.MINIMIZE else "max"
    if strategies.get(metric, best) != "latest":
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                source,
                f"Katib scores a trial by the {strategies.get(metric, best)} of its "
                f"{metric} reports, kubetune by the latest one: report the final "
                "(or best) value last",
                "spec.objective",
            )
        )
    for name, value in strategies.items():
        if name != metric and value != "latest":
            notes.append(
                Note(
                    NoteKind.APPROXIMATED,
                    source,
                    f"{name}: kubetune records the latest value, not the {value}",
                    "spec.metrics",
                )
            )


def _budget(
    spec: Mapping[str, Any], resource: dict[str, Any] | None, notes: list[Note]
) -> dict[str, Any]:
    budget: dict[str, Any] = {}
    if spec.get("maxTrialCount") is None:
        budget["maxTrials"] = KUBETUNE_DEFAULT_MAX_TRIALS
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                "spec.maxTrialCount",
                "unset: Katib runs until the goal or the algorithm stops; kubetune "
                f"needs a limit and uses {KUBETUNE_DEFAULT_MAX_TRIALS}",
                "spec.budget",
            )
        )
    else:
        budget["maxTrials"] = _count(spec["maxTrialCount"], "spec.maxTrialCount", 1)
    parallel = spec.get("parallelTrialCount", KATIB_PARALLEL_TRIALS)
    parallel = _count(parallel, "spec.parallelTrialCount", 1)
    if parallel > budget["maxTrials"]:
        notes.append(
            Note(
                NoteKind.CHANGED,
                "spec.parallelTrialCount",
                f"{parallel} is more than maxTrials; lowered to {budget['maxTrials']}",
                "spec.budget",
            )
        )
        parallel = budget["maxTrials"]
    budget["parallelTrials"] = parallel
    if spec.get("maxFailedTrialCount") is not None:
        budget["maxFailedTrials"] = _count(
            spec["maxFailedTrialCount"], "spec.maxFailedTrialCount", 0
        )
    if resource is not None:
        budget["resource"] = resource
    return budget


def _count(value: Any, source: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConversionError(source, f"expected a whole number >= {least}, got {value!r}")
    return value


def _early_stopping(early: Any, notes: list[Note]) -> dict[str, Any] | None:
    source = "spec.earlyStopping"
    if not isinstance(early, Mapping) or not early.get("algorithmName"):
        return None
    name = early["algorithmName"]
    if name != "medianstop":
        notes.append(
            Note(
                NoteKind.DROPPED,
                f"{source}.algorithmName",
                f"kubetune has no {name!r}; its rules are median, percentile and "
                "threshold (docs/algorithms.md)",
            )
        )
        return None
    settings = {MEDIAN_SETTINGS[k]: v for k, v in MEDIAN_DEFAULTS.items()}
    for i, item in enumerate(early.get("algorithmSettings") or []):
        key = item.get("name")
        if key in MEDIAN_SETTINGS:
            settings[MEDIAN_SETTINGS[key]] = _count(
                scalar(item.get("value")), f"{source}.algorithmSettings[{i}].value", 0
            )
        else:
            notes.append(
                Note(
                    NoteKind.DROPPED,
                    f"{source}.algorithmSettings[{i}]",
                    f"the median rule has no {key!r} (its settings: minTrials, "
                    "startStep, interval)",
                    "spec.earlyStopping",
                )
            )
    notes.append(
        Note(
            NoteKind.APPROXIMATED,
            f"{source}.algorithmName",
            "medianstop became the median rule, with Katib's settings and defaults "
            "(min_trials_required → minTrials, start_step → startStep). Katib "
            "compares a trial's best value with the median of completed trials' "
            "running averages; kubetune with the median of its peers' best values "
            "at the same step",
            "spec.earlyStopping",
        )
    )
    return {"rule": MEDIAN_RULE, "settings": settings}


def _report_rest(spec: Mapping[str, Any], notes: list[Note]) -> None:
    if spec.get("resumePolicy"):
        notes.append(
            Note(
                NoteKind.CHANGED,
                "spec.resumePolicy",
                f"{spec['resumePolicy']}: kubetune needs no resume policy; its "
                "algorithms rebuild from the trials' history, so a study resumes "
                "after any restart (raise maxTrials to extend a finished one)",
            )
        )
    for key in sorted(set(spec) - CONVERTED_SPEC_FIELDS):
        notes.append(Note(NoteKind.DROPPED, f"spec.{key}", "not converted: no kubetune equivalent"))


def _validate(manifest: dict[str, Any]) -> None:
    """The converter's output must pass ``kubetune validate``; else the input was unusable."""
    try:
        parse_study(manifest)
    except InvalidStudy as error:
        problems = "; ".join(str(e) for e in error.errors)
        raise ConversionError(
            "(converted study)", f"kubetune would reject it: {problems}"
        ) from None
