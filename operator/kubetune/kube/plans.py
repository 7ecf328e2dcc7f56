"""A study's spec, parsed and checked once per generation: the reconciler's only memory.

Parsing a spec and building its ``Planner`` (the algorithm's search space, the stopping
rule) costs more than a whole reconcile of a quiet study, and the result depends only on
the spec. So it is kept per study, keyed by (uid, generation): editing the spec, or
deleting and recreating the study under the same name, builds a fresh one; so are the
warm-start trials (``warm``: earlier studies from the watch cache, a results ConfigMap).
A study whose warm-start source is unavailable (``WarmStartUnavailable``) is not held: it
is built again on its next reconcile, so creating or fixing the source lets it start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.api.study import TuningStudy
from kubetune.engine import Planner
from kubetune.kube.cache import StudyKey
from kubetune.kube.warm import WarmStartUnavailable
from kubetune.lifecycle import keeps_checkpoints
from kubetune.validation import FieldError, InvalidStudy, parse_study
from kubetune.warmstart import NO_WARM_START, WarmStart


@dataclass(frozen=True)
class Plan:
    """A study's spec, parsed and checked, and the planner built from it."""

    study: TuningStudy
    planner: Planner


WarmLoader = Callable[[TuningStudy], WarmStart]
"""Reads a study's ``spec.warmStart`` sources; raises ``InvalidStudy`` naming the field."""


def no_warm_start(study: TuningStudy) -> WarmStart:
    return NO_WARM_START


def build(body: Mapping[str, Any], warm: WarmLoader = no_warm_start) -> Plan | InvalidStudy:
    """The plan of a TuningStudy as the API holds it, or why it cannot run."""
    metadata = body["metadata"]
    document = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")},
        "spec": body.get("spec"),
    }
    try:
        study = parse_study(document)
        _refuse_checkpoints_without_a_place(study)
        return Plan(study, Planner(study.spec, study.metadata.name, warm(study)))
    except InvalidStudy as error:
        return error
    except ValueError as error:  # a planner error parse_study did not anticipate
        return InvalidStudy([FieldError("spec", str(error))])


CHECKPOINTS_FIELD = "spec.trialTemplate.checkpoints"


def _refuse_checkpoints_without_a_place(study: TuningStudy) -> None:
    """A study whose trials hand checkpoints on (pbt, or ``${checkpointDir}`` in the
    template) needs somewhere trial pods share: locally that is a directory, on a cluster
    the study must name a claim or a URI, or every segment would silently start fresh."""
    if keeps_checkpoints(study.spec) and study.spec.trial_template.checkpoints is None:
        raise InvalidStudy(
            [
                FieldError(
                    CHECKPOINTS_FIELD,
                    f"{study.spec.algorithm.name} hands checkpoints from trial to trial; on a "
                    "cluster say where they live: persistentVolumeClaim {claimName} (a claim "
                    "every trial pod mounts) or uri (a prefix such as s3://bucket/path handed "
                    "to the trial's code)",
                )
            ]
        )


class Plans:
    """The plan of each study, rebuilt when its uid or generation changes."""

    def __init__(self, warm: WarmLoader = no_warm_start) -> None:
        self._warm = warm
        self._held: dict[StudyKey, tuple[str, int, Plan | InvalidStudy]] = {}

    def get(self, key: StudyKey, body: Mapping[str, Any]) -> Plan | InvalidStudy:
        metadata = body["metadata"]
        uid, generation = str(metadata["uid"]), int(metadata.get("generation") or 0)
        held = self._held.get(key)
        if held is not None and held[:2] == (uid, generation):
            return held[2]
        plan = build(body, self._warm)
        if isinstance(plan, WarmStartUnavailable):
            self._held.pop(key, None)
        else:
            self._held[key] = (uid, generation, plan)
        return plan

    def forget(self, key: StudyKey) -> None:
        self._held.pop(key, None)
