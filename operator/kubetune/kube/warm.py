"""Load ``spec.warmStart`` on a cluster: earlier studies' Trials and a results ConfigMap.

The operator already caches every Trial of the namespaces it watches, so an earlier study's
trials cost no API call; a results file comes from a ConfigMap of the study's namespace (one
GET, through ``ConfigMapReader``), parsed by the same ``kubetune.warmstart.read_results`` as
``kubetune run``'s file. Both are read when a study's plan is built (once per spec
generation — trials the earlier study finishes later, or a ConfigMap edited later, are not
seen until the spec changes).

A source that is missing or unusable is outside the spec: the user fixes it by creating the
ConfigMap or the earlier study, not by editing this one. So it raises
``WarmStartUnavailable`` and the study waits, looked at again every
``warm_start_retry_seconds``. A spec that can never work — a study warm-starting from
itself, or a file the operator cannot read — is an ordinary ``InvalidStudy``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from kubetune.api.study import ConfigMapResults, TuningStudy
from kubetune.api.trial import TrialPhase, TrialSpec, TrialStatus
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.client import ApiError
from kubetune.space import SearchSpace
from kubetune.validation import FieldError, InvalidStudy
from kubetune.warmstart import (
    NO_WARM_START,
    InvalidResults,
    PastTrial,
    WarmStart,
    match,
    read_results,
    results_format,
    unmatched_parameters,
)

STUDIES_FIELD = "spec.warmStart.studies"
FILE_FIELD = "spec.warmStart.file"
CONFIG_MAP_NAME_FIELD = "spec.warmStart.configMap.name"
CONFIG_MAP_KEY_FIELD = "spec.warmStart.configMap.key"
FILE_REFUSED = (
    "the operator cannot read files from your machine; put the file in a ConfigMap of the "
    "study's namespace (kubetune warm-start-configmap FILE --name NAME | kubectl apply -f -) "
    "and name it in spec.warmStart.configMap, or warm-start from the earlier study itself "
    "(spec.warmStart.studies, same namespace)"
)
FORBIDDEN = 403

ConfigMapReader = Callable[[str, str], Mapping[str, Any] | None]
"""(namespace, name) -> the ConfigMap, or None if there is none; may raise ``ApiError``."""


class WarmStartUnavailable(InvalidStudy):
    """A warm-start source that is missing or unusable now and may be fixed without editing
    the study (a ConfigMap or an earlier study created or corrected): the study waits."""


def no_config_maps(namespace: str, name: str) -> Mapping[str, Any] | None:
    return None


def load_warm_start(
    study: TuningStudy, cache: ObjectCache, read_config_map: ConfigMapReader = no_config_maps
) -> WarmStart:
    """The warm-start trials of ``study``; ``InvalidStudy`` or ``WarmStartUnavailable``
    naming every field that fails."""
    warm = study.spec.warm_start
    if warm is None:
        return NO_WARM_START
    invalid = [FieldError(FILE_FIELD, FILE_REFUSED)] if warm.file is not None else []
    unavailable: list[FieldError] = []
    past: list[PastTrial] = []
    for i, name in enumerate(warm.studies):
        where = f"{STUDIES_FIELD}[{i}]"
        if name == study.metadata.name:
            invalid.append(FieldError(where, "a study cannot warm-start from itself"))
            continue
        try:
            past += _study_trials(study, name, cache)
        except _Unavailable as error:
            unavailable.append(FieldError(where, str(error)))
    if warm.config_map is not None:
        try:
            past += _config_map_trials(study, warm.config_map, read_config_map)
        except _Unavailable as error:
            unavailable.append(FieldError(error.field, str(error)))
    if invalid:
        raise InvalidStudy(invalid + unavailable)
    if unavailable:
        raise WarmStartUnavailable(unavailable)
    return match(past, SearchSpace.from_specs(study.spec.parameters), study.spec.objective_list)


class _Unavailable(Exception):
    """One source that cannot be used now; the message says why and what to do."""

    def __init__(self, message: str, field: str = STUDIES_FIELD) -> None:
        super().__init__(message)
        self.field = field


def _study_trials(study: TuningStudy, name: str, cache: ObjectCache) -> list[PastTrial]:
    namespace = study.metadata.namespace or ""
    source = cache.study((namespace, name))
    if source is None:
        raise _Unavailable(
            f"no TuningStudy {name!r} in namespace {namespace!r}; warm start reads studies of "
            "the study's own namespace (this study waits until it exists)"
        )
    names = [str(p.get("name")) for p in (source.get("spec") or {}).get("parameters", [])]
    problem = unmatched_parameters(names, study.spec)
    if problem is not None:
        raise _Unavailable(f"study {name!r} {problem}")
    return _succeeded(cache.get(Kind.TRIAL, (namespace, name)).values())


def _config_map_trials(
    study: TuningStudy, source: ConfigMapResults, read: ConfigMapReader
) -> list[PastTrial]:
    namespace = study.metadata.namespace or ""
    try:
        config_map = read(namespace, source.name)
    except ApiError as error:
        if error.status != FORBIDDEN:
            raise  # the API is unwell: the reconcile fails and is retried
        raise _Unavailable(
            f"the operator may not read ConfigMap {source.name!r} in namespace {namespace!r} "
            "(403); install the chart with rbac.create=true, or grant its service account "
            "get on configmaps there",
            CONFIG_MAP_NAME_FIELD,
        ) from None
    if config_map is None:
        raise _Unavailable(
            f"no ConfigMap {source.name!r} in namespace {namespace!r}; create it from your "
            f"results file: kubectl create configmap {source.name} -n {namespace} "
            f"--from-file={source.key}=PATH (or kubetune warm-start-configmap PATH "
            f"--name {source.name} --key {source.key} | kubectl apply -n {namespace} -f -)",
            CONFIG_MAP_NAME_FIELD,
        )
    text = _text(config_map, source)
    try:
        return read_results(text, results_format(source.key), study.spec)
    except InvalidResults as error:
        raise _Unavailable(
            f"ConfigMap {source.name!r}, key {source.key!r}: {error}; fix the file and "
            "replace the ConfigMap (this study waits until it can be read)",
            CONFIG_MAP_KEY_FIELD,
        ) from None


def _text(config_map: Mapping[str, Any], source: ConfigMapResults) -> str:
    """The key's text: ``data``, or ``binaryData`` (kubectl puts a file there when it is not
    valid UTF-8) decoded as UTF-8."""
    data = config_map.get("data") or {}
    if source.key in data:
        return str(data[source.key])
    binary = config_map.get("binaryData") or {}
    if source.key in binary:
        try:
            return base64.b64decode(binary[source.key]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _Unavailable(
                f"ConfigMap {source.name!r}, key {source.key!r} is not UTF-8 text",
                CONFIG_MAP_KEY_FIELD,
            ) from None
    keys = sorted([*data, *binary])
    raise _Unavailable(
        f"ConfigMap {source.name!r} has no key {source.key!r} (its keys: {keys}); name one of "
        "them, or add the file under that key",
        CONFIG_MAP_KEY_FIELD,
    )


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
