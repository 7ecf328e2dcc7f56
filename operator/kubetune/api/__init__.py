"""Pydantic models of the TuningStudy and Trial resources, and the CRDs generated from them."""

from kubetune.api.conditions import Condition, ConditionStatus
from kubetune.api.study import (
    API_VERSION,
    GROUP,
    STUDY_LABEL,
    VERSION,
    Direction,
    Objective,
    ParameterSpec,
    ParameterType,
    StudyPhase,
    StudySpec,
    StudyStatus,
    TuningStudy,
)
from kubetune.api.trial import (
    MAX_INTERMEDIATE_POINTS,
    IntermediatePoint,
    Trial,
    TrialPhase,
    TrialSpec,
    TrialStatus,
    trial_name,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "MAX_INTERMEDIATE_POINTS",
    "STUDY_LABEL",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "Direction",
    "IntermediatePoint",
    "Objective",
    "ParameterSpec",
    "ParameterType",
    "StudyPhase",
    "StudySpec",
    "StudyStatus",
    "Trial",
    "TrialPhase",
    "TrialSpec",
    "TrialStatus",
    "TuningStudy",
    "trial_name",
]
