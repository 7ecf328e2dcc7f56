"""Load ``spec.warmStart`` on a cluster: earlier studies' Trials, read from the watch cache.

The operator already caches every Trial of the namespaces it watches, so an earlier study's
trials cost no API call; they are read when a study's plan is built (once per spec
generation — trials the earlier study finishes later are not seen until the spec changes).
The operator cannot read files on a user's machine: ``warmStart.file`` is refused with a
message that says what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kubetune.api.study import TuningStudy
from kubetune.api.trial import TrialPhase, TrialSpec, TrialStatus
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.space import SearchSpace
from kubetune.validation import FieldError, InvalidStudy
from kubetune.warmstart import NO_WARM_START, PastTrial, WarmStart, match, unmatched_parameters

STUDIES_FIELD = "spec.warmStart.studies"
FILE_FIELD = "spec.warmStart.file"
FILE_REFUSED = (
    "the operator cannot read files from your machine; run the study with `kubetune run` "
    "to warm-start from a file, or warm-start from the earlier study itself "
    "(spec.warmStart.studies, same namespace)"
)


def load_warm_start(study: TuningStudy, cache: ObjectCache) -> WarmStart:
    """The warm-start trials of ``study`` from the cache; ``InvalidStudy`` naming the field."""
    warm = study.spec.warm_start
    if warm is None:
        return NO_WARM_START
    namespace = study.metadata.namespace or ""
    errors = [FieldError(FILE_FIELD, FILE_REFUSED)] if warm.file is not None else []
    past: list[PastTrial] = []
    for i, name in enumerate(warm.studies):
        where = f"{STUDIES_FIELD}[{i}]"
        source = cache.study((namespace, name))
        if name == study.metadata.name:
            errors.append(FieldError(where, "a study cannot warm-start from itself"))
        elif source is None:
            errors.append(
                FieldError(
                    where,
                    f"no TuningStudy {name!r} in namespace {namespace!r}; warm start reads "
                    "studies of the study's own namespace",
                )
            )
        else:
            names = [str(p.get("name")) for p in (source.get("spec") or {}).get("parameters", [])]
            problem = unmatched_parameters(names, study.spec)
            if problem is not None:
                errors.append(FieldError(where, f"study {name!r} {problem}"))
            else:
                past += _succeeded(cache.get(Kind.TRIAL, (namespace, name)).values())
    if errors:
        raise InvalidStudy(errors)
    return match(past, SearchSpace.from_specs(study.spec.parameters), study.spec.objective_list)


def _succeeded(trials: Any) -> list[PastTrial]:
    """Succeeded Trials in index order; one this version cannot read is skipped."""
    found: list[tuple[int, PastTrial]] = []
    for trial in trials:
        parsed = _parse(trial)
        if parsed is not None and parsed[1].phase is TrialPhase.SUCCEEDED:
            spec, status = parsed
            found.append((spec.index, PastTrial(spec.parameters, status.values)))
    return [trial for _, trial in sorted(found, key=lambda pair: pair[0])]


def _parse(trial: Mapping[str, Any]) -> tuple[TrialSpec, TrialStatus] | None:
    try:
        return (
            TrialSpec.model_validate(trial.get("spec") or {}),
            # Warm start reads phase and values; the curve (a cache ``Curve``) is not needed.
            TrialStatus.model_validate(
                {k: v for k, v in (trial.get("status") or {}).items() if k != "intermediate"}
            ),
        )
    except ValidationError:
        return None
