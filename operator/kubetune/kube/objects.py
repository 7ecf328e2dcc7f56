"""The Kubernetes objects the operator creates, rendered as plain dicts from a study.

Everything here is pure: a ``Trial`` for each new trial and the ``Job`` that evaluates it
(same name, both owned by the study), and the ServiceAccount, Role and RoleBinding that let
a trial's pod report to its own Trial. Names are deterministic, so creating any of these
twice is answered 409 AlreadyExists and changes nothing.

The Job is owned by the study rather than by its Trial so that both can be created at
once: an ownerReference needs the owner's uid, and waiting for the Trial's cost every
successor a round trip to the API server. The Job carries what its Trial says
(``TRIAL_SPEC_ANNOTATION``), so each can be checked against the other: a Job whose Trial
was never created (the operator died between the two creates) has it created from the
Job, and a Job that evaluates other parameters than its Trial (two operators that both
thought they led) is replaced.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubetune import lifecycle
from kubetune.api.attributes import RESTORE_ATTRIBUTE, AttributeValue
from kubetune.api.study import (
    API_VERSION,
    GROUP,
    STUDY_LABEL,
    CheckpointsSpec,
    ParameterValue,
    ResourcesSpec,
    StudySpec,
)
from kubetune.api.trial import trial_name
from kubetune.template import render_container

TRIAL_LABEL = f"{GROUP}/trial"
TRIAL_INDEX_LABEL = f"{GROUP}/trial-index"
PRUNED_ANNOTATION = f"{GROUP}/pruned"
"""Set with ``spec.stop``: "true" when a stopping rule pruned the trial, "false" otherwise."""
STOP_REQUESTED_ANNOTATION = f"{GROUP}/stop-requested-at"
"""When ``spec.stop`` was set (RFC 3339): the stop grace period counts from here."""

TRIAL_SPEC_ANNOTATION = f"{GROUP}/trial-spec"
"""On a Job: the ``trial_identity`` of the Trial it evaluates, as JSON."""

TERMINATION_MESSAGE_POLICY = "FallbackToLogsOnError"
"""Default of the primary container: the kubelet keeps the end of a failed container's log."""

TERMINATION_MESSAGE_PATH_VARIABLE = "KUBETUNE_TERMINATION_MESSAGE_PATH"
"""Tells the runner a template's own ``terminationMessagePath`` (default /dev/termination-log)."""

TRIAL_ACCOUNT = "kubetune-trial"
"""ServiceAccount, Role and RoleBinding the operator keeps in every namespace with studies."""

CHECKPOINT_VOLUME = "kubetune-checkpoints"
"""The pod volume of ``spec.trialTemplate.checkpoints.persistentVolumeClaim``; a volume or
mount of the template with this name is replaced."""


@dataclass(frozen=True)
class TrialCheckpoints:
    """Where one trial saves its checkpoint and what it restores from, as the trial sees them
    (a path under the claim's mount, or a URI); None when the study keeps none or the trial
    starts fresh."""

    directory: str | None = None
    restore_from: str | None = None


NO_CHECKPOINTS = TrialCheckpoints()


def trial_checkpoints(
    checkpoints: CheckpointsSpec | None,
    study: str,
    trial: str,
    attributes: Mapping[str, AttributeValue],
) -> TrialCheckpoints:
    """The trial's own location, and the location of the trial its algorithm named in
    ``RESTORE_ATTRIBUTE`` (a trial of the same study, so the same claim or URI)."""
    if checkpoints is None:
        return NO_CHECKPOINTS
    parent = attributes.get(RESTORE_ATTRIBUTE)
    return TrialCheckpoints(
        directory=checkpoints.location(study, trial),
        restore_from=checkpoints.location(study, parent)
        if isinstance(parent, str) and parent
        else None,
    )


def owner_reference(
    kind: str, name: str, uid: str, api_version: str = API_VERSION
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_trial(
    study: str,
    namespace: str,
    study_uid: str,
    index: int,
    params: Mapping[str, ParameterValue],
    budget: float | None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"study": study, "index": index, "parameters": dict(params)}
    if budget is not None:
        spec["budget"] = budget
    if attributes:
        spec["attributes"] = dict(attributes)  # the algorithm reads them back from here
    return {
        "apiVersion": API_VERSION,
        "kind": "Trial",
        "metadata": {
            "name": trial_name(study, index),
            "namespace": namespace,
            "labels": {STUDY_LABEL: study, TRIAL_INDEX_LABEL: str(index)},
            "ownerReferences": [owner_reference("TuningStudy", study, study_uid)],
        },
        "spec": spec,
    }


def trial_identity(trial_spec: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a trial the trial it is: its index and what its program is given
    (parameters, budget, attributes). Two Trial specs with the same identity run the same
    program; everything else in a spec (``stop``) changes as it runs."""
    return {
        "index": int(trial_spec["index"]),
        "parameters": dict(trial_spec.get("parameters") or {}),
        "budget": trial_spec.get("budget"),
        "attributes": dict(trial_spec.get("attributes") or {}),
    }


def job_identity(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``trial_identity`` a Job was rendered from; None for a Job without one (made by
    an older operator, owned by its Trial) or whose annotation was edited into nonsense."""
    text = ((job.get("metadata") or {}).get("annotations") or {}).get(TRIAL_SPEC_ANNOTATION)
    if not text:
        return None
    try:
        identity = json.loads(text)
        return trial_identity(identity) if isinstance(identity, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def evaluates(job: Mapping[str, Any], trial: Mapping[str, Any]) -> bool:
    """Whether ``job`` runs what ``trial`` says (a Job without an identity is taken on trust:
    it was rendered from its Trial). Numbers compare by value: the API may write 1.0 as 1."""
    identity = job_identity(job)
    return identity is None or identity == trial_identity(trial["spec"])


def trial_of(
    identity: Mapping[str, Any], study: str, namespace: str, study_uid: str
) -> dict[str, Any]:
    """The Trial with this ``trial_identity``: for a Job whose Trial was never created."""
    return render_trial(
        study,
        namespace,
        study_uid,
        identity["index"],
        identity["parameters"],
        identity["budget"],
        identity["attributes"],
    )


def render_job(spec: StudySpec, trial: Mapping[str, Any], study_uid: str) -> dict[str, Any]:
    """The Job that evaluates ``trial`` (a Trial as ``render_trial`` made it or as the API
    returned it), owned by the study whose uid is ``study_uid``.

    Parameters come from the Trial, never from a fresh suggestion, so a Job created after a
    restart always evaluates what the Trial says.
    """
    metadata, trial_spec = trial["metadata"], trial["spec"]
    name, namespace = metadata["name"], metadata["namespace"]
    params: dict[str, ParameterValue] = trial_spec.get("parameters") or {}
    budget: float | None = trial_spec.get("budget")
    template = spec.trial_template
    labels = {STUDY_LABEL: trial_spec["study"], TRIAL_LABEL: name}

    job_spec: dict[str, Any] = copy.deepcopy(template.job)
    job_spec.setdefault("backoffLimit", 0)
    pod_template = job_spec.setdefault("template", {})
    pod_metadata = pod_template.setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **labels}
    pod = pod_template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")
    pod.setdefault("serviceAccountName", TRIAL_ACCOUNT)
    pod["automountServiceAccountToken"] = True  # the runner reports with the pod's token

    checkpoints = trial_checkpoints(
        template.checkpoints, trial_spec["study"], name, trial_spec.get("attributes") or {}
    )
    primary_name = template.container()["name"]
    for key in ("initContainers", "containers"):
        pod[key] = [
            render_container(
                c, params, name, budget, checkpoints.directory, checkpoints.restore_from
            )
            for c in pod.get(key) or []
        ]
        if not pod[key]:
            del pod[key]
    for container in pod["containers"]:
        if container["name"] == primary_name:
            env = runner_env(spec, name, namespace, params, budget, checkpoints)
            _add_runner_env(container, env)
            _add_gpus(container, template.resources)
            _add_checkpoint_volume(pod, container, template.checkpoints)

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                TRIAL_SPEC_ANNOTATION: json.dumps(
                    trial_identity(trial_spec), sort_keys=True, separators=(",", ":")
                )
            },
            "ownerReferences": [owner_reference("TuningStudy", trial_spec["study"], study_uid)],
        },
        "spec": job_spec,
    }


def runner_env(
    spec: StudySpec,
    trial: str,
    namespace: str,
    params: Mapping[str, ParameterValue],
    budget: float | None,
    checkpoints: TrialCheckpoints = NO_CHECKPOINTS,
) -> dict[str, str]:
    """The variables ``kubetune-runner`` reads: the lifecycle's, plus the cluster transport's."""
    env = lifecycle.runner_env(
        trial=trial,
        params=params,
        objectives=spec.objective_list,
        budget=budget,
        checkpoint_dir=checkpoints.directory,
        restore_from=checkpoints.restore_from,
    )
    env[lifecycle.NAMESPACE_VARIABLE] = namespace
    return env


def _add_runner_env(container: dict[str, Any], ours: Mapping[str, str]) -> None:
    kept = [var for var in container.get("env") or [] if var.get("name") not in ours]
    container["env"] = kept + [{"name": k, "value": v} for k, v in ours.items()]
    # A failed trial's last output lines become its termination message, which the verdict
    # quotes, so a failure shows its error without reading pod logs; a trial that ended
    # well writes its final report there, for when the API did not take it.
    container.setdefault("terminationMessagePolicy", TERMINATION_MESSAGE_POLICY)
    if container.get("terminationMessagePath"):
        container["env"].append(
            {
                "name": TERMINATION_MESSAGE_PATH_VARIABLE,
                "value": container["terminationMessagePath"],
            }
        )


def _add_checkpoint_volume(
    pod: dict[str, Any], container: dict[str, Any], checkpoints: CheckpointsSpec | None
) -> None:
    """The checkpoint claim as a pod volume, mounted whole into the primary container: every
    trial sees every other trial's directory, which is how one restores another's."""
    if checkpoints is None or checkpoints.persistent_volume_claim is None:
        return
    claim = checkpoints.persistent_volume_claim.claim_name
    volumes = [v for v in pod.get("volumes") or [] if v.get("name") != CHECKPOINT_VOLUME]
    pod["volumes"] = [
        *volumes,
        {"name": CHECKPOINT_VOLUME, "persistentVolumeClaim": {"claimName": claim}},
    ]
    mounts = [
        m
        for m in container.get("volumeMounts") or []
        if m.get("name") != CHECKPOINT_VOLUME and m.get("mountPath") != checkpoints.mount
    ]
    container["volumeMounts"] = [
        *mounts,
        {"name": CHECKPOINT_VOLUME, "mountPath": checkpoints.mount},
    ]


def _add_gpus(container: dict[str, Any], spec: ResourcesSpec) -> None:
    """The trial's GPUs as requests and limits: the device count, and memory when sliced."""
    if spec.gpus <= 0:
        return
    wanted = {spec.gpu_resource: str(spec.gpus)}
    if spec.gpu_memory is not None:
        wanted[spec.gpu_memory_resource] = str(spec.gpu_memory)
    resources = container.setdefault("resources", {})
    for key in ("requests", "limits"):
        resources[key] = {**(resources.get(key) or {}), **wanted}


def trial_account(namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) of the ServiceAccount, Role and RoleBinding of trial pods.

    The Role lets a pod read Trials and write their status, nothing else; the runner patches
    only its own Trial (a ValidatingAdmissionPolicy, installed by the chart, enforces that).
    """
    meta = {"name": TRIAL_ACCOUNT, "namespace": namespace, "labels": {f"{GROUP}/managed": "true"}}
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
    return [
        (
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        ),
        (
            f"{rbac}/roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": [
                    {"apiGroups": [GROUP], "resources": ["trials"], "verbs": ["get"]},
                    {
                        "apiGroups": [GROUP],
                        "resources": ["trials/status"],
                        "verbs": ["get", "patch", "update"],
                    },
                ],
            },
        ),
        (
            f"{rbac}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": TRIAL_ACCOUNT,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": TRIAL_ACCOUNT, "namespace": namespace}
                ],
            },
        ),
    ]
