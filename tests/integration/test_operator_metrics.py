"""/metrics tells the story of a study while it runs and after it ends; /healthz is up."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    get_study,
    metric_samples,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def test_metrics_follow_a_study_and_forget_it_when_deleted(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    handle = operator()
    create_study(
        custom,
        namespace,
        study_manifest("watched", max_trials=6, parallel=3, gpus=1, script_args=["--seconds", "2"]),
    )
    labels = f'namespace="{namespace}",phase="Running",study="watched"'

    during = until(
        handle.metrics,
        lambda text: metric_samples(text, "kubetune_trials").get("{" + labels + "}", 0) > 0,
        "running trials in /metrics",
        timeout=30,
    )
    assert metric_samples(during, "kubetune_studies")['{phase="Running"}'] == 1
    study = wait_for_phase(custom, namespace, "watched")
    text = until(  # gauges follow the reconcile that wrote the final status
        handle.metrics,
        lambda t: metric_samples(t, "kubetune_studies").get('{phase="Succeeded"}') == 1,
        "the finished study in /metrics",
        timeout=10,
    )

    trials = metric_samples(text, "kubetune_trials")
    assert trials[f'{{namespace="{namespace}",phase="Succeeded",study="watched"}}'] == 6
    assert trials["{" + labels + "}"] == 0
    best = metric_samples(text, "kubetune_study_best_value")
    key = f'{{metric="loss",namespace="{namespace}",study="watched"}}'
    assert best[key] == pytest.approx(study["status"]["bestValue"])
    assert metric_samples(text, "kubetune_trials_created_total")[""] == 6
    assert metric_samples(text, "kubetune_trials_finished_total")['{phase="Succeeded"}'] == 6
    assert metric_samples(text, "kubetune_trials_pruned_total")[""] == 0
    gpu = metric_samples(text, "kubetune_gpu_seconds_total")
    assert gpu[f'{{namespace="{namespace}",study="watched"}}'] >= 6  # 6 trials x ~2 s x 1 GPU
    assert (
        metric_samples(text, "kubetune_suggestion_duration_seconds_count")['{algorithm="random"}']
        >= 1
    )
    assert metric_samples(text, "kubetune_reconcile_duration_seconds_count")[""] >= 1
    assert metric_samples(text, "kubetune_reconcile_errors_total")[""] == 0
    assert metric_samples(text, "kubetune_build_info")['{version="0.1.0"}'] == 1
    assert handle.healthz() == 200

    custom.delete_namespaced_custom_object(
        "kubetune.dev", "v1alpha1", namespace, "tuningstudies", "watched"
    )
    until(
        handle.metrics,
        lambda t: 'study="watched"' not in t,
        "the deleted study's series to disappear",
        timeout=15,
    )
    with pytest.raises(client.ApiException):
        get_study(custom, namespace, "watched")
