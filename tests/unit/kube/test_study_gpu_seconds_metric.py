"""A study's total GPU-seconds is exported from its status and forgotten with the study."""

from __future__ import annotations

from kubetune import metrics
from kubetune.api.study import StudyPhase


def _value(namespace: str, study: str) -> float | None:
    labels = {"namespace": namespace, "study": study}
    return metrics.REGISTRY.get_sample_value("kubetune_study_gpu_seconds", labels)


def test_gauge_follows_the_status_and_disappears_with_the_study() -> None:
    metrics.observe_study("ns", "gpu-total", StudyPhase.RUNNING, {}, {}, gpu_seconds=12.5)
    assert _value("ns", "gpu-total") == 12.5
    metrics.observe_study("ns", "gpu-total", StudyPhase.RUNNING, {}, {}, gpu_seconds=30.0)
    assert _value("ns", "gpu-total") == 30.0
    metrics.forget_study("ns", "gpu-total")
    assert _value("ns", "gpu-total") is None


def test_a_study_without_a_total_exports_none() -> None:
    metrics.observe_study("ns", "invalid", StudyPhase.FAILED, {}, {})
    assert _value("ns", "invalid") is None
    metrics.forget_study("ns", "invalid")


def test_hypervolume_gauge_follows_the_summary_and_disappears_with_the_study() -> None:
    labels = {"namespace": "ns", "study": "front"}
    metrics.observe_study("ns", "front", StudyPhase.RUNNING, {}, {}, hypervolume=0.75)
    assert metrics.REGISTRY.get_sample_value("kubetune_study_hypervolume", labels) == 0.75
    metrics.observe_study("ns", "front", StudyPhase.RUNNING, {}, {}, hypervolume=None)
    assert metrics.REGISTRY.get_sample_value("kubetune_study_hypervolume", labels) is None
    metrics.observe_study("ns", "front", StudyPhase.RUNNING, {}, {}, hypervolume=0.5)
    metrics.forget_study("ns", "front")
    assert metrics.REGISTRY.get_sample_value("kubetune_study_hypervolume", labels) is None
