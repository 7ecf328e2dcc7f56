"""Read a study from a cluster (kubeconfig, namespace, name) into a study record.

This is how ``kubetune results --cluster`` sees a study: the TuningStudy's spec and every
Trial labelled with its name, read with the user's kubeconfig through the ``kubernetes``
client's ``CustomObjectsApi``, then summarized exactly as a local study is. Whatever goes
wrong — no kubeconfig, a cluster that does not answer, credentials it refuses, a study that
is not there — becomes a ``RecordUnavailable`` whose message says what to do, never a
traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kubetune.api.study import GROUP, STUDY_LABEL, VERSION, TuningStudy
from kubetune.api.trial import TrialSpec, TrialStatus
from kubetune.history import IntermediateValue
from kubetune.record import (
    RecordedTrial,
    RecordUnavailable,
    StudyOverview,
    StudyRecord,
    study_record,
)

DEFAULT_KUBECONFIG = "~/.kube/config"
"""Where kubectl and the kubernetes client look when KUBECONFIG is not set."""
IN_CLUSTER_VARIABLE = "KUBERNETES_SERVICE_HOST"
"""Set in every pod: without a kubeconfig, the reader uses the pod's ServiceAccount."""
IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
STUDIES = "tuningstudies"
TRIALS = "trials"


@dataclass(frozen=True)
class ReaderSettings:
    """How patient the reader is with a cluster."""

    connect_timeout_seconds: float = 5.0
    """How long to wait for the API server to accept a connection."""
    read_timeout_seconds: float = 30.0
    """How long to wait for one answer (a page of trials)."""
    retries: int = 1
    """Extra attempts after a failed connection, before the cluster counts as unreachable."""
    page_size: int = 500
    """Trials asked for per request; a 10,000-trial study is read in 20 pages."""


DEFAULT_SETTINGS = ReaderSettings()


def read_cluster_study(
    name: str,
    namespace: str | None = None,
    kubeconfig: Path | None = None,
    settings: ReaderSettings = DEFAULT_SETTINGS,
) -> StudyRecord:
    """The record of TuningStudy ``name``, or ``RecordUnavailable`` saying why not.

    ``namespace`` defaults to the kubeconfig context's namespace, else ``default``;
    ``kubeconfig`` to ``$KUBECONFIG``, else ``~/.kube/config``.
    """
    configuration, context_namespace = _configuration(kubeconfig)
    configuration.retries = settings.retries
    namespace = namespace or context_namespace or "default"
    # Any: the generated client types its answers as object; they are the JSON dicts.
    api: Any = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(configuration))
    timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
    where = f"{namespace}/{name}"
    try:
        body = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, STUDIES, name, _request_timeout=timeout
        )
        trials = list(_trial_objects(api, namespace, name, timeout, settings.page_size))
    except ApiException as error:
        if error.status == 404:
            raise RecordUnavailable(_not_found(api, namespace, name, timeout)) from None
        raise RecordUnavailable(_refused(error, configuration.host, where)) from None
    except urllib3.exceptions.HTTPError as error:
        raise RecordUnavailable(_unreachable(error, configuration.host)) from None
    study = _parse(TuningStudy, body, f"TuningStudy {where}")
    recorded = [_recorded(trial) for trial in trials]
    return study_record(name, study.spec, recorded, source=f"{where} on {configuration.host}")


def list_cluster_studies(
    namespace: str | None = None,
    kubeconfig: Path | None = None,
    settings: ReaderSettings = DEFAULT_SETTINGS,
) -> list[StudyOverview]:
    """The TuningStudies of ``namespace`` from their status (no Trial is read), by name.

    One request however many trials the studies have; ``RecordUnavailable`` says why the
    cluster could not be read, as ``read_cluster_study`` does.
    """
    configuration, context_namespace = _configuration(kubeconfig)
    configuration.retries = settings.retries
    namespace = namespace or context_namespace or "default"
    api: Any = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(configuration))
    timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
    try:
        listed = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, STUDIES, _request_timeout=timeout
        )
    except ApiException as error:
        if error.status == 404:
            raise RecordUnavailable(
                "this cluster does not know TuningStudies: kubetune is not installed "
                "(`helm install kubetune helm/kubetune`)"
            ) from None
        if error.status == 403:
            raise RecordUnavailable(
                f"not allowed to list TuningStudies in namespace {namespace!r}: "
                f"{_api_message(error)}"
            ) from None
        raise RecordUnavailable(_refused(error, configuration.host, namespace)) from None
    except urllib3.exceptions.HTTPError as error:
        raise RecordUnavailable(_unreachable(error, configuration.host)) from None
    items = sorted(listed.get("items") or [], key=lambda item: item["metadata"]["name"])
    return [_overview(item, namespace, configuration.host) for item in items]


def _overview(item: Mapping[str, Any], namespace: str, host: str) -> StudyOverview:
    """A listed TuningStudy's overview; one that does not parse shows as Unreadable."""
    name = item["metadata"]["name"]
    source = f"{namespace}/{name} on {host}"
    try:
        study = TuningStudy.model_validate(item)
    except ValidationError:
        return StudyOverview(name, "Unreadable", 0, 0, 0, None, source)
    status = study.status
    if status is None:
        return StudyOverview(name, "Pending", 0, 0, study.spec.budget.max_trials, None, source)
    counts = status.trials
    finished = counts.succeeded + counts.failed + counts.pruned + counts.stopped
    return StudyOverview(
        name=name,
        phase=status.phase.value,
        finished=finished,
        total=counts.total,
        max_trials=study.spec.budget.max_trials,
        best_value=status.best_value,
        source=source,
    )


def _configuration(
    kubeconfig: Path | None,
) -> tuple[kubernetes.client.Configuration, str | None]:
    """The client configuration and the current context's namespace, from a kubeconfig."""
    if kubeconfig is not None and not kubeconfig.is_file():
        raise RecordUnavailable(f"no kubeconfig at {kubeconfig}; check --kubeconfig")
    if kubeconfig is None:
        searched = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
        if not any(Path(p).expanduser().is_file() for p in searched.split(os.pathsep) if p):
            if os.environ.get(IN_CLUSTER_VARIABLE):
                return _in_cluster_configuration()
            raise RecordUnavailable(
                f"no kubeconfig found (looked for {searched}); pass --kubeconfig PATH or set "
                "KUBECONFIG, or log in to the cluster first"
            )
    config_file = None if kubeconfig is None else str(kubeconfig)
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=config_file, client_configuration=configuration
        )
        _, context = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=config_file
        )
    except kubernetes.config.ConfigException as error:
        raise RecordUnavailable(f"cannot use the kubeconfig: {error}") from None
    namespace = (context or {}).get("context", {}).get("namespace")
    return configuration, namespace


def _in_cluster_configuration() -> tuple[kubernetes.client.Configuration, str | None]:
    """In a pod without a kubeconfig (the chart's dashboard): its ServiceAccount's token."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except kubernetes.config.ConfigException as error:
        raise RecordUnavailable(f"cannot use the pod's ServiceAccount: {error}") from None
    try:
        namespace = IN_CLUSTER_NAMESPACE_FILE.read_text().strip() or None
    except OSError:
        namespace = None
    return configuration, namespace


def _trial_objects(
    api: Any, namespace: str, study: str, timeout: tuple[float, float], page_size: int
) -> Iterator[dict[str, Any]]:
    """Every Trial labelled with the study's name, a page at a time."""
    token = None
    while True:
        page = api.list_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            TRIALS,
            label_selector=f"{STUDY_LABEL}={study}",
            limit=page_size,
            _continue=token,
            _request_timeout=timeout,
        )
        yield from page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def _recorded(trial: Mapping[str, Any]) -> RecordedTrial:
    name = (trial.get("metadata") or {}).get("name", "?")
    spec = _parse(TrialSpec, trial.get("spec") or {}, f"Trial {name}")
    status = _parse(TrialStatus, trial.get("status") or {}, f"the status of Trial {name}")
    return RecordedTrial(
        index=spec.index,
        params=spec.parameters,
        phase=status.phase,
        attributes=spec.attributes,
        reason=status.reason,
        message=status.message,
        values=status.values,
        intermediate=tuple(IntermediateValue(p.step, p.values) for p in status.intermediate),
        budget=spec.budget,
        start_time=status.start_time,
        completion_time=status.completion_time,
        gpu_seconds=status.gpu_seconds,
        exit_code=status.exit_code,
    )


Model = TypeVar("Model", TuningStudy, TrialSpec, TrialStatus)


def _parse(model: type[Model], data: Mapping[str, Any], what: str) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise RecordUnavailable(
            f"{what} does not read as this kubetune version expects ({field}: {first['msg']}); "
            "use the kubetune version of the operator that wrote it"
        ) from None


def _not_found(api: Any, namespace: str, name: str, timeout: tuple[float, float]) -> str:
    """Why a study is not there: the CRD is missing, or the name or namespace is wrong."""
    try:
        listed = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, STUDIES, _request_timeout=timeout
        )
    except (ApiException, urllib3.exceptions.HTTPError) as error:
        if isinstance(error, ApiException) and error.status == 404:
            return (
                f"this cluster does not know TuningStudies: kubetune is not installed "
                f"(`helm install kubetune helm/kubetune`), so there is no study {name!r}"
            )
        return f"no TuningStudy {name!r} in namespace {namespace!r}"
    names = sorted(item["metadata"]["name"] for item in listed.get("items") or [])
    there = f"studies there: {', '.join(names)}" if names else "it has no studies"
    return (
        f"no TuningStudy {name!r} in namespace {namespace!r} ({there}); "
        "pass --namespace for another namespace"
    )


def _refused(error: ApiException, host: str, where: str) -> str:
    message = _api_message(error)
    if error.status == 401:
        return f"the cluster at {host} refused the kubeconfig's credentials ({message}); log in"
    if error.status == 403:
        return f"not allowed to read TuningStudy {where} and its Trials: {message}"
    if not error.status:  # TLS and other transport failures the client wraps
        return f"cannot talk to the cluster at {host}: {error.reason}"
    return f"the cluster at {host} answered {error.status} {error.reason}: {message}"


def _api_message(error: ApiException) -> str:
    """The Status message the API server sent, else the HTTP reason."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


def _unreachable(error: urllib3.exceptions.HTTPError, host: str) -> str:
    reason = getattr(error, "reason", None) or error
    return (
        f"cannot reach the cluster at {host} ({reason}); check that it is running and that "
        "the kubeconfig's current context points at it"
    )
