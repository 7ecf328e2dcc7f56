"""Katib ``spec.trialTemplate`` → kubetune ``trialTemplate``.

Katib renders a whole trial object from ``${trialParameters.NAME}`` placeholders, each naming
a parameter or a piece of trial metadata, and collects metrics with a sidecar it injects.
kubetune runs one ``batch/v1`` Job per trial, substitutes ``${params.NAME}``, ``${trial}`` and
``${budget}`` in the containers' command, args and env values, and has the program report
through ``kubetune-runner``, which wraps the primary container's command (``_katib_collector``).
So: placeholders are rewritten, a GPU limit becomes ``resources``, and other trial kinds are
refused with what to do instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubetune.convert._katib_collector import wrap_command
from kubetune.convert.notes import ConversionError, Note, NoteKind

SOURCE = "spec.trialTemplate"
TARGET = "spec.trialTemplate"
JOB_API = ("batch/v1", "Job")
_GPU_RESOURCE = re.compile(r"^(nvidia\.com/(gpu|mig-[A-Za-z0-9.]+)|amd\.com/gpu)$")
"""Extended resources that kubetune hands out as ``trialTemplate.resources``."""

_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_METADATA = re.compile(
    r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|(Labels|Annotations)\[(.+)\])\}$"
)
_SUBSTITUTED = re.compile(
    r"^template\.spec\.(?:initContainers|containers)\[\d+\]\.(?:command\[\d+\]|args\[\d+\]|env\[\d+\]\.value)$"
)
"""Where kubetune substitutes placeholders in a JobSpec (see ``kubetune.template``)."""

OTHER_KINDS = {
    "PyTorchJob": "run the training as one Job: torchrun --nproc-per-node=N on one node with "
    "N GPUs (trialTemplate.resources.gpus: N), or an indexed Job for several nodes",
    "TFJob": "run the training as one Job with a MirroredStrategy over the node's GPUs",
    "MPIJob": "run mpirun/horovodrun inside one Job on one multi-GPU node",
    "XGBoostJob": "run XGBoost in one Job (it is usually fast enough on one node)",
    "PaddleJob": "run the training as one Job on one multi-GPU node",
    "JAXJob": "run the training as one Job on one multi-GPU node",
    "TrainJob": "run the trainer's command as one Job's container",
    "Workflow": "run the Argo step that trains as the Job's container; keep the rest of the "
    "workflow outside the study",
    "PipelineRun": "run the Tekton task that trains as the Job's container; keep the rest of "
    "the pipeline outside the study",
}
"""Trial kinds kubetune refuses, and what to do instead of each."""


@dataclass(frozen=True)
class TemplateContext:
    """What the template conversion needs from the rest of the Experiment."""

    parameters: Mapping[str, str]
    """Katib parameter name → kubetune parameter name."""
    resource_parameter: str | None
    metrics: Sequence[str]
    namespace: str | None


def convert_template(
    template: Any,
    collector: Any,
    context: TemplateContext,
    notes: list[Note],
    trial_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """kubetune's ``trialTemplate``; ``trial_spec`` stands in for a ConfigMap's template."""
    if not isinstance(template, Mapping):
        raise ConversionError(SOURCE, "required: the trial's Job (trialSpec) and trialParameters")
    spec = _trial_spec(template, trial_spec, notes)
    replacements = _replacements(template, spec, context, notes)
    job = _substitute(copy.deepcopy(spec.get("spec") or {}), "", replacements, notes)
    result: dict[str, Any] = {"job": job}
    containers = job.get("template", {}).get("spec", {}).get("containers")
    if not isinstance(containers, list) or not containers:
        raise ConversionError(
            f"{SOURCE}.trialSpec.spec.template.spec.containers",
            "the Job needs at least one container",
        )
    primary = template.get("primaryContainerName")
    container = containers[0]
    if primary:
        found = [c for c in containers if isinstance(c, Mapping) and c.get("name") == primary]
        if not found:
            raise ConversionError(
                f"{SOURCE}.primaryContainerName", f"{primary!r} is not a container of the Job"
            )
        container, result["primaryContainer"] = found[0], primary
    wrap_command(container, collector, context.metrics, notes)
    gpus = _take_gpus(container, notes)
    if gpus is not None:
        result["resources"] = gpus
    _report_trial_fields(template, spec, notes)
    return result


def _take_gpus(container: dict[str, Any], notes: list[Note]) -> dict[str, Any] | None:
    """A GPU limit on the primary container becomes ``trialTemplate.resources``.

    The operator adds the same limit back, and ``kubetune run`` can then share the machine's
    GPUs out among parallel trials instead of showing every trial all of them.
    """
    resources = container.get("resources") or {}
    limits = resources.get("limits") or {}
    found = [k for k in limits if _GPU_RESOURCE.match(str(k))]
    if len(found) != 1 or not str(limits[found[0]]).isdigit():
        return None
    name = found[0]
    count = int(str(limits[name]))
    for key in ("limits", "requests"):
        if name in (resources.get(key) or {}):
            del resources[key][name]
            if not resources[key]:
                del resources[key]
    if not resources:
        container.pop("resources", None)
    notes.append(
        Note(
            NoteKind.CHANGED,
            f"{SOURCE}.trialSpec.spec.template.spec.containers[{container.get('name')}]"
            f".resources.limits",
            f"{name}: {count} became trialTemplate.resources "
            "(the operator sets the same limit; kubetune run shares GPUs out by it)",
            TARGET,
        )
    )
    return {"gpus": count, "gpuResource": name}


def _trial_spec(
    template: Mapping[str, Any], given: Mapping[str, Any] | None, notes: list[Note]
) -> Mapping[str, Any]:
    config_map = template.get("configMap")
    if given is not None:
        if config_map is not None:
            notes.append(
                Note(
                    NoteKind.CHANGED,
                    f"{SOURCE}.configMap",
                    "the ConfigMap's template (given with --trial-spec) is now inline",
                    TARGET,
                )
            )
        spec: Any = given
    elif config_map is not None:
        name = (
            config_map.get("configMapName", "NAME") if isinstance(config_map, Mapping) else "NAME"
        )
        path = config_map.get("templatePath", "PATH") if isinstance(config_map, Mapping) else "PATH"
        raise ConversionError(
            f"{SOURCE}.configMap",
            "the trial template lives in a ConfigMap, which a file conversion cannot read; a "
            "kubetune study holds its Job inline. Fetch it and pass it along: kubectl get "
            f"configmap {name} -o jsonpath='{{.data.{path}}}' > trial.yaml; kubetune convert "
            "EXPERIMENT --trial-spec trial.yaml",
        )
    else:
        spec = template.get("trialSpec")
    if not isinstance(spec, Mapping):
        raise ConversionError(f"{SOURCE}.trialSpec", "required: the trial's batch/v1 Job")
    kind = (spec.get("apiVersion"), spec.get("kind"))
    if kind != JOB_API:
        instead = OTHER_KINDS.get(str(kind[1]), "put the training container in a batch/v1 Job")
        raise ConversionError(
            f"{SOURCE}.trialSpec.kind",
            f"{kind[1]} ({kind[0]}) trials are not supported: kubetune runs each trial as one "
            f"batch/v1 Job. Instead, {instead}.",
        )
    return spec


def _replacements(
    template: Mapping[str, Any],
    spec: Mapping[str, Any],
    context: TemplateContext,
    notes: list[Note],
) -> dict[str, str]:
    """``${trialParameters.NAME}`` → what kubetune substitutes (or a constant) for each NAME."""
    raw = template.get("trialParameters") or []
    if not isinstance(raw, list):
        raise ConversionError(f"{SOURCE}.trialParameters", "expected a list of {name, reference}")
    replacements = {}
    for i, item in enumerate(raw):
        source = f"{SOURCE}.trialParameters[{i}]"
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConversionError(f"{source}.name", "every trial parameter needs a name")
        reference = str(item.get("reference") or item["name"])
        replacements[str(item["name"])] = _replacement(reference, source, spec, context, notes)
        if item.get("description") and reference in context.parameters:
            _keep_description(
                str(item["description"]), reference, f"{source}.description", context, notes
            )
    return replacements


def _keep_description(
    description: str, reference: str, source: str, context: TemplateContext, notes: list[Note]
) -> None:
    """A trial parameter's description becomes a comment on the parameter it refers to."""
    kept = [v for k, v in context.parameters.items() if k != context.resource_parameter]
    name = context.parameters[reference]
    target = f"spec.parameters[{kept.index(name)}]" if name in kept else "spec.budget"
    notes.append(Note(NoteKind.CHANGED, source, f"{description} (kept as this comment)", target))


def _replacement(
    reference: str,
    source: str,
    spec: Mapping[str, Any],
    context: TemplateContext,
    notes: list[Note],
) -> str:
    if reference == context.resource_parameter:
        return "${budget}"
    if reference in context.parameters:
        return f"${{params.{context.parameters[reference]}}}"
    match = _METADATA.match(reference)
    if match is None:
        raise ConversionError(
            f"{source}.reference",
            f"{reference!r} names no parameter; use one of {sorted(context.parameters)} or "
            "${trialSpec.Name}",
        )
    field = match.group(1)
    if field == "Name":
        notes.append(Note(NoteKind.CHANGED, source, "${trialSpec.Name} became ${trial}", TARGET))
        return "${trial}"
    constants = {"Kind": JOB_API[1], "APIVersion": JOB_API[0], "Namespace": context.namespace}
    if match.group(2):
        metadata = spec.get("metadata") or {}
        constants[field] = (metadata.get(match.group(2).lower()) or {}).get(match.group(3))
    value = constants.get(field)
    if value is None:
        notes.append(
            Note(
                NoteKind.DROPPED,
                source,
                f"{reference} is unknown before the trial runs here; it becomes an "
                "empty string (read KUBETUNE_TRIAL/KUBETUNE_NAMESPACE in the program)",
                TARGET,
            )
        )
        return ""
    notes.append(
        Note(
            NoteKind.CHANGED,
            source,
            f"{reference} is the same for every trial: written as {value!r}",
            TARGET,
        )
    )
    return str(value)


def _substitute(node: Any, path: str, replacements: Mapping[str, str], notes: list[Note]) -> Any:
    if isinstance(node, dict):
        return {
            k: _substitute(v, f"{path}.{k}" if path else str(k), replacements, notes)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", replacements, notes) for i, v in enumerate(node)]
    if not isinstance(node, str) or not _PLACEHOLDER.search(node):
        return node
    where = f"{SOURCE}.trialSpec.spec.{path}"

    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in replacements:
            raise ConversionError(
                where,
                f"${{trialParameters.{match.group(1)}}} is not in "
                f"trialTemplate.trialParameters ({sorted(replacements)})",
            )
        return replacements[match.group(1)]

    text = _PLACEHOLDER.sub(replace, node)
    if "${" in text and not _SUBSTITUTED.match(path):
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                where,
                "kubetune substitutes only in containers' command, args and env "
                "values; here the placeholder stays as written. Pass the value "
                "through an env var or an argument instead",
                TARGET,
            )
        )
    return text


def _report_trial_fields(
    template: Mapping[str, Any], spec: Mapping[str, Any], notes: list[Note]
) -> None:
    metadata = spec.get("metadata") or {}
    for key in ("labels", "annotations"):
        if metadata.get(key):
            notes.append(
                Note(
                    NoteKind.DROPPED,
                    f"{SOURCE}.trialSpec.metadata.{key}",
                    "kubetune makes the Job's metadata itself; put pod labels and "
                    "annotations in spec.template.metadata",
                    TARGET,
                )
            )
    reasons = {
        "successCondition": "kubetune reads the Job's own Complete and Failed conditions",
        "failureCondition": "kubetune reads the Job's own Complete and Failed conditions",
        "primaryPodLabels": "kubetune knows its Job's pods; no labels needed",
        "retain": "kubetune keeps a finished trial's Job (owned by its Trial) until the study "
        "is deleted; there is no per-study switch",
    }
    same = {"primaryPodLabels": True, "retain": template.get("retain") is True}
    for key, reason in reasons.items():
        if key in template:
            kind = NoteKind.CHANGED if same.get(key) else NoteKind.DROPPED
            notes.append(Note(kind, f"{SOURCE}.{key}", reason, TARGET))
