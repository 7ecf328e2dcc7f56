"""Fractional GPUs locally: up to K one-GPU trials per device, GPU-seconds counting 1/K.

Device ids are fake (no GPU is needed): the backend only hands ids out through
CUDA_VISIBLE_DEVICES and accounts for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from test_backend import HERE, manifest, run_study

from kubetune.cli import main
from kubetune.local.backend import LocalOptions, LocalStudy, gpu_load
from kubetune.local.progress import render_results, result_rows, study_result
from kubetune.local.reader import read_local_study
from kubetune.local.store import LocalTrial
from kubetune.validation import parse_study


def study(gpus_per_trial: int, devices: tuple[str, ...], per_device: int) -> LocalStudy:
    document = manifest(budget={"maxTrials": 50, "parallelTrials": 50})
    document["spec"]["trialTemplate"]["resources"] = {"gpus": gpus_per_trial}
    options = LocalOptions(state_dir=Path("/nonexistent"), gpus=devices, trials_per_gpu=per_device)
    return LocalStudy(parse_study(document), options)


def start(local: LocalStudy, index: int) -> bool:
    """Hand devices to a pretend trial the way _launch does; False when none are free."""
    gpus = local._free_gpus()
    if gpus is None:
        return False
    trial = LocalTrial(index, {"x": 0.5}, gpus=gpus, gpu_fraction=local._gpu_fraction(gpus))
    local.trials[index] = trial
    local.processes[index] = object()  # type: ignore[assignment]  # only its key is read
    return True


def finish(local: LocalStudy, index: int) -> None:
    del local.processes[index]


def load(local: LocalStudy) -> dict[str, int]:
    running = [local.trials[i] for i in local.processes]
    return dict(gpu_load(local.options.gpus, running, local.options.trials_per_gpu))


def test_one_gpu_trials_spread_over_devices_then_pack_up_to_k_each() -> None:
    local = study(1, ("0", "1"), 4)
    assert all(start(local, i) for i in range(8))
    assert [local.trials[i].gpus for i in range(4)] == [["0"], ["1"], ["0"], ["1"]]
    assert load(local) == {"0": 4, "1": 4}
    assert not start(local, 8)  # every slot is taken: the trial waits
    finish(local, 3)
    assert start(local, 8) and local.trials[8].gpus == ["1"]
    assert local.trials[8].gpu_fraction == 0.25


def test_a_multi_gpu_trial_takes_whole_devices_never_a_shared_one() -> None:
    local = study(2, ("0", "1", "2"), 4)
    assert start(local, 0) and local.trials[0].gpus == ["0", "1"]
    assert local.trials[0].gpu_fraction == 1.0
    assert load(local) == {"0": 4, "1": 4, "2": 0}
    assert not start(local, 1)  # one whole device is left, the trial needs two


def test_without_sharing_each_trial_gets_its_own_device() -> None:
    local = study(1, ("a", "b"), 1)
    assert start(local, 0) and start(local, 1) and not start(local, 2)
    assert {g for i in (0, 1) for g in local.trials[i].gpus} == {"a", "b"}


@settings(max_examples=60, deadline=None)
@given(
    devices=st.integers(1, 4),
    per_device=st.integers(1, 5),
    gpus_per_trial=st.integers(1, 3),
    events=st.lists(st.booleans(), max_size=60),
)
def test_no_device_ever_holds_more_than_k_trial_slots(
    devices: int, per_device: int, gpus_per_trial: int, events: list[bool]
) -> None:
    ids = tuple(str(d) for d in range(devices))
    if gpus_per_trial > devices:
        return  # refused up front (see test_backend)
    local = study(gpus_per_trial, ids, per_device)
    for index, starting in enumerate(events):
        if starting or not local.processes:
            before = load(local)
            idle = sum(used == 0 for used in before.values())
            roomy = any(used < per_device for used in before.values())
            started = start(local, index)
            assert started == (roomy if gpus_per_trial == 1 else idle >= gpus_per_trial)
        else:
            finish(local, next(iter(local.processes)))
        assert all(0 <= used <= per_device for used in load(local).values())
        for i in local.processes:
            share = local.trials[i].gpu_fraction
            assert share == (1 / per_device if gpus_per_trial == 1 else 1.0)


def trial_spans(local: LocalStudy) -> list[tuple[float, float]]:
    trials = local.store.load_trials()
    return [(t.start_time or 0.0, t.completion_time or 0.0) for t in trials]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def packed_document() -> dict[str, Any]:
    document = manifest(
        args=["--steps=2", "--sleep=0.2"], budget={"maxTrials": 6, "parallelTrials": 6}
    )
    document["spec"]["trialTemplate"]["resources"] = {"gpus": 1}
    return document


def test_trials_share_a_device_and_count_their_share_of_its_time(tmp_path: Path) -> None:
    local = run_study(packed_document(), tmp_path, gpus=("7",), trials_per_gpu=3)
    trials = local.store.load_trials()
    assert len(trials) == 6 and all(t.gpus == ["7"] for t in trials)
    assert most_at_once(trial_spans(local)) <= 3
    record = read_local_study(tmp_path, local.name)
    for trial in record.trials:
        assert trial.seconds is not None
        assert trial.gpu_seconds == pytest.approx(trial.seconds / 3)
    total = sum(t.gpu_seconds for t in record.trials)
    assert f"GPU time: {total:.1f} GPU-seconds" in study_result(record)
    rows = result_rows(record)
    assert all(row["gpuSeconds"] == pytest.approx(row["seconds"] / 3, abs=0.01) for row in rows)
    table = Console(width=300, record=True)
    table.print(render_results(record, "table", None))
    assert "gpuSeconds" in table.export_text()


def test_a_study_without_gpus_shows_no_gpu_time(tmp_path: Path) -> None:
    local = run_study(manifest(budget={"maxTrials": 1, "parallelTrials": 1}), tmp_path)
    record = read_local_study(tmp_path, local.name)
    assert "GPU time" not in study_result(record)
    assert "gpuSeconds" not in result_rows(record)[0]


@pytest.mark.parametrize("given_k", ["0", "-1", "two"])
def test_trials_per_gpu_below_one_is_refused_by_the_cli(
    given_k: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["run", str(HERE / "none.yaml"), "--gpus", "0", "--trials-per-gpu", given_k])
    assert "--trials-per-gpu" in capsys.readouterr().err


def test_trials_per_gpu_below_one_is_refused_by_the_backend() -> None:
    with pytest.raises(ValueError, match="trials-per-gpu"):
        study(1, ("0",), 0)
