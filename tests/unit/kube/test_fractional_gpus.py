"""Fractional GPUs on a cluster: MIG, time-slicing and memory-sliced (HAMi) resources are
requested as written and their GPU-seconds count the share of a GPU each trial holds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from test_objects import TRIAL, _containers, _spec
from test_observe import NOW, SPEC, job, objects, pod, settle_all, trial

from kubetune.api.study import ResourcesSpec, StudySpec
from kubetune.kube import observe
from kubetune.kube.objects import render_job


@pytest.mark.parametrize(
    ("resources", "share"),
    [
        ({"gpus": 2}, 2.0),
        ({"gpus": 1, "gpuResource": "nvidia.com/gpu.shared"}, 1.0),
        ({"gpus": 1, "gpuResource": "nvidia.com/gpu.shared", "gpuFraction": 0.25}, 0.25),
        ({"gpus": 1, "gpuResource": "nvidia.com/mig-1g.10gb"}, 1 / 7),
        ({"gpus": 2, "gpuResource": "nvidia.com/mig-3g.40gb"}, 6 / 7),
        ({"gpus": 1, "gpuResource": "nvidia.com/mig-7g.80gb"}, 1.0),
        ({"gpus": 1, "gpuResource": "nvidia.com/mig-1g.10gb", "gpuFraction": 0.125}, 0.125),
        ({"gpus": 1, "gpuMemory": 10000, "gpuFraction": 0.125}, 0.125),
        ({"gpus": 1, "gpuMemory": 10000}, 1.0),
        ({}, 0.0),
    ],
)
def test_each_gpu_resource_counts_its_share_of_a_gpu(
    resources: dict[str, Any], share: float
) -> None:
    assert ResourcesSpec.model_validate(resources).gpu_share == pytest.approx(share)


def test_a_memory_sliced_trial_requests_a_vgpu_and_its_memory() -> None:
    spec = _spec(resources={"gpus": 1, "gpuMemory": 10000, "gpuFraction": 0.25})
    limits = _containers(render_job(spec, TRIAL, "study-uid"))["train"]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "10000"}
    spec = _spec(
        resources={"gpus": 1, "gpuMemory": 25, "gpuMemoryResource": "nvidia.com/gpumem-percentage"}
    )
    requests = _containers(render_job(spec, TRIAL, "study-uid"))["train"]["resources"]["requests"]
    assert requests == {"nvidia.com/gpu": "1", "nvidia.com/gpumem-percentage": "25"}


def test_a_time_sliced_resource_is_requested_as_named() -> None:
    spec = _spec(resources={"gpus": 1, "gpuResource": "nvidia.com/gpu.shared"})
    limits = _containers(render_job(spec, TRIAL, "study-uid"))["train"]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu.shared": "1"}


@pytest.mark.parametrize(
    ("resources", "field", "says"),
    [
        ({"gpus": 1, "gpuResource": "nvidia.com/gpumem"}, "", "set gpuMemory"),
        ({"gpuMemory": 1000}, "", "gpuMemory needs gpus"),
        ({"gpus": 1, "gpuFraction": 0}, "gpuFraction", "greater than 0"),
        ({"gpus": 1, "gpuFraction": 1.5}, "gpuFraction", "less than or equal to 1"),
    ],
)
def test_a_wrong_fractional_gpu_spec_is_refused_saying_why(
    resources: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as error:
        ResourcesSpec.model_validate(resources)
    assert says in str(error.value) and field in str(error.value)


def test_finished_trials_on_mig_slices_count_a_seventh_of_a_gpu_each() -> None:
    data = SPEC.model_dump(by_alias=True, exclude_none=True)
    data["trialTemplate"]["resources"] = {"gpus": 1, "gpuResource": "nvidia.com/mig-1g.10gb"}
    context = observe.TrialContext.of(StudySpec.model_validate(data), NOW)
    finished = trial(
        0,
        phase="Succeeded",
        reason="Completed",
        startTime="2026-01-01T11:59:00Z",
        completionTime="2026-01-01T11:59:35Z",
    )
    running = trial(1, phase="Running", startTime="2026-01-01T11:00:00Z")
    observed = settle_all(objects([finished, running], [job(1)], [pod(1, "Running")]), context)
    assert observed.gpu_seconds == pytest.approx(35.0 / 7, abs=1e-3)
