"""The local backend end to end: real trial processes through the runner, state on disk."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.local.backend import LocalOptions, LocalStudy, StudyChanged, StudyView
from kubetune.local.progress import panel, render_results, result_rows, status_line
from kubetune.local.reader import read_local_study
from kubetune.validation import InvalidStudy, parse_study

HERE = Path(__file__).parent


def manifest(name: str = "t", args: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "algorithm": {"name": "sobol"},
            "budget": {"maxTrials": 6, "parallelTrials": 3},
            "seed": 0,
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "train",
                                    "command": ["python", "fake_trial.py"],
                                    "args": ["--x=${params.x}", *(args or [])],
                                }
                            ]
                        }
                    }
                }
            },
        },
    }
    document["spec"].update(spec)
    return document


def run_study(document: dict[str, Any], state: Path, **options: Any) -> LocalStudy:
    options = {"workdir": HERE, **options}
    study = LocalStudy(
        parse_study(document), LocalOptions(state_dir=state, poll_seconds=0.02, **options)
    )
    study.open()
    study.run(lambda view: None)
    return study


def test_a_study_runs_to_its_budget_and_finds_the_best(tmp_path: Path) -> None:
    study = run_study(manifest(args=["--steps=3"]), tmp_path)
    trials = study.store.load_trials()
    assert [t.index for t in trials] == list(range(6))
    assert all(t.phase is TrialPhase.SUCCEEDED for t in trials)
    view = study.step()
    losses = {t.index: study.store.metrics(t.index).values["loss"] for t in trials}
    assert view.summary.best_index == min(losses, key=losses.__getitem__)
    assert study.store.metrics(0).points()[-1].step == 3


def test_katib_lines_through_the_wrapper_are_reported(tmp_path: Path) -> None:
    document = manifest(args=["--print", "--steps=2"])
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["kubetune-runner", "--", "python", "fake_trial.py"]
    study = run_study(document, tmp_path)
    assert all(t.phase is TrialPhase.SUCCEEDED for t in study.store.load_trials())
    assert sorted(s.step for s in study.store.metrics(0).points()) == [1, 2]
    assert "step=2 loss=" in (study.store.trial_dir(0) / "output.log").read_text()


def test_a_crashing_trial_is_failed_with_exit_code_and_output(tmp_path: Path) -> None:
    document = manifest(args=["--exit-code=3"], budget={"maxTrials": 2, "parallelTrials": 1})
    study = run_study(document, tmp_path)
    trial = study.store.load_trials()[0]
    assert trial.phase is TrialPhase.FAILED and trial.exit_code == 3
    assert trial.reason == "Error"
    assert "something went wrong" in (trial.message or "")


def test_a_trial_that_never_reports_the_objective_fails_with_metrics_missing(
    tmp_path: Path,
) -> None:
    study = run_study(manifest(args=["--silent"], budget={"maxTrials": 1}), tmp_path)
    trial = study.store.load_trials()[0]
    assert trial.phase is TrialPhase.FAILED and trial.reason == "MetricsMissing"
    assert "never reported loss" in (trial.message or "")


def test_a_command_that_does_not_exist_fails_the_trial_not_the_study(tmp_path: Path) -> None:
    document = manifest(budget={"maxTrials": 2, "parallelTrials": 1, "maxFailedTrials": 0})
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["no-such-program-kubetune"]
    study = run_study(document, tmp_path)
    trial = study.store.load_trials()[0]
    assert trial.reason == "StartError" and "no-such-program-kubetune" in (trial.message or "")
    assert study.ending is not None and study.ending.outcome == "TooManyFailedTrials"


def test_a_malformed_metrics_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    study = LocalStudy(parse_study(manifest()), LocalOptions(state_dir=tmp_path, workdir=HERE))
    study.open()
    directory = study.store.trial_dir(0)
    directory.mkdir(parents=True)
    (directory / "metrics.jsonl").write_text(
        'not json\n{"values": {"loss": "high"}}\n{"step": 1, "values": {"loss": 0.5}}\n{"par'
    )
    metrics = study.store.metrics(0)
    assert metrics.values == {"loss": 0.5} and metrics.bad_lines == 2


def test_goal_reached_stops_running_trials(tmp_path: Path) -> None:
    # Trial 0 reaches the goal after one step; trial 1 would run a minute but is stopped.
    document = manifest(
        args=["--steps=300", "--sleep=0.2", "--fast-below=0.5"],
        objective={"metric": "loss", "direction": "minimize", "target": 100.0},
        initialTrials=[{"x": 0.1}, {"x": 0.9}],
        budget={"maxTrials": 4, "parallelTrials": 2},
    )
    start = time.monotonic()
    study = run_study(document, tmp_path, stop_grace_seconds=5)
    assert time.monotonic() - start < 30
    trials = {t.index: t for t in study.store.load_trials()}
    assert study.ending is not None and study.ending.outcome == "GoalReached"
    assert trials[0].phase is TrialPhase.SUCCEEDED
    assert trials[1].phase is TrialPhase.STOPPED and trials[1].reason == "StudyEnded"
    assert "asked to stop" in (study.store.trial_dir(1) / "output.log").read_text()
    assert len(trials) == 2


def test_gpus_are_shared_out_one_per_trial(tmp_path: Path) -> None:
    document = manifest(
        args=["--steps=2", "--sleep=0.3"], budget={"maxTrials": 4, "parallelTrials": 4}
    )
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", 'echo "gpu=$CUDA_VISIBLE_DEVICES" && exec "$@"', "sh"]
    container["args"] = ["python", "fake_trial.py", "--x=${params.x}", "--steps=2", "--sleep=0.3"]
    study = run_study(document, tmp_path, gpus=("0", "1"))
    trials = study.store.load_trials()
    assert sorted(g for t in trials for g in t.gpus) == ["0", "0", "1", "1"]
    for t in trials:
        assert f"gpu={t.gpus[0]}" in (study.store.trial_dir(t.index) / "output.log").read_text()
    # Two devices, one per trial: never more than two trials overlapped.
    spans = sorted((t.start_time, t.completion_time) for t in trials)
    for (_, end), (start, _) in zip(spans, spans[2:], strict=False):
        assert start >= end - 0.05


def test_changing_the_study_between_runs_is_refused(tmp_path: Path) -> None:
    run_study(manifest(budget={"maxTrials": 1}), tmp_path)
    changed = manifest(budget={"maxTrials": 1})
    changed["spec"]["parameters"][0]["high"] = 2.0
    study = LocalStudy(parse_study(changed), LocalOptions(state_dir=tmp_path, workdir=HERE))
    with pytest.raises(StudyChanged, match=r"spec\.parameters"):
        study.open()


def test_raising_max_trials_continues_a_finished_study(tmp_path: Path) -> None:
    run_study(manifest(budget={"maxTrials": 2, "parallelTrials": 2}), tmp_path)
    study = run_study(manifest(budget={"maxTrials": 4, "parallelTrials": 2}), tmp_path)
    assert [t.index for t in study.store.load_trials()] == [0, 1, 2, 3]


def test_killed_run_resumes_without_repeating_finished_trials(tmp_path: Path) -> None:
    study_file = tmp_path / "study.yaml"
    document = manifest(
        args=["--steps=4", "--sleep=0.15"], budget={"maxTrials": 8, "parallelTrials": 2}
    )
    study_file.write_text(yaml.safe_dump(document))
    state = tmp_path / "state"
    command = [
        sys.executable, "-m", "kubetune.cli", "run", str(study_file),
        "--state-dir", str(state), "--workdir", str(HERE),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials_dir = state / "t" / "trials"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _finished(trials_dir) < 3:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = {i: m for i, m in _finished_metrics(trials_dir).items()}
    assert len(before) >= 3
    time.sleep(1.0)  # orphaned trials of the killed run may still be finishing
    assert main(["run", str(study_file), "--state-dir", str(state), "--workdir", str(HERE)]) == 0
    after = _finished_metrics(trials_dir)
    assert sorted(after) == list(range(8))
    for index, metrics in before.items():
        assert after[index] == metrics  # finished trials were kept, not rerun


def _finished(trials_dir: Path) -> int:
    return len(_finished_metrics(trials_dir))


def _finished_metrics(trials_dir: Path) -> dict[int, str]:
    result = {}
    for path in trials_dir.glob("*/trial.json"):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        if record["phase"] == "Succeeded":
            result[record["index"]] = (path.parent / "metrics.jsonl").read_text()
    return result


def test_results_command_prints_json_and_csv(tmp_path: Path, capsys: Any) -> None:
    run_study(manifest(budget={"maxTrials": 2, "parallelTrials": 1}), tmp_path)
    assert main(["results", "t", "--state-dir", str(tmp_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["phase"] for r in rows] == ["Succeeded", "Succeeded"]
    assert rows[0]["loss"] <= rows[1]["loss"]
    assert main(["results", "t", "--state-dir", str(tmp_path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("trial,phase,loss,params.x")


def test_median_rule_prunes_bad_trials_which_end_pruned_at_their_step(tmp_path: Path) -> None:
    document = manifest(
        args=["--steps=20", "--sleep=0.1"],
        earlyStopping={"rule": "median", "settings": {"startStep": 2, "minTrials": 2}},
        initialTrials=[{"x": 0.3}, {"x": 0.32}, {"x": 0.95}, {"x": 0.9}],
        budget={"maxTrials": 4, "parallelTrials": 2},
    )
    study = run_study(document, tmp_path, stop_grace_seconds=5)
    trials = {t.index: t for t in study.store.load_trials()}
    assert [trials[i].phase for i in (0, 1)] == [TrialPhase.SUCCEEDED] * 2
    for index in (2, 3):
        assert trials[index].phase is TrialPhase.PRUNED and trials[index].reason == "EarlyStopped"
        last = study.store.metrics(index).points()[-1].step
        assert 2 <= last < 20
    assert study.step().summary.saved_steps > 20


def _command(document: dict[str, Any], *command: str) -> None:
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = list(command)
    container["args"] = []


def test_a_nan_objective_through_the_wrapper_is_objective_not_finite(tmp_path: Path) -> None:
    document = manifest(budget={"maxTrials": 1})
    program = "print('step=1 loss=0.5'); print('step=2 loss=nan')"
    _command(document, sys.executable, "-m", "kubetune_runner", "--", sys.executable, "-c", program)
    trial = run_study(document, tmp_path).store.load_trials()[0]
    assert (trial.phase, trial.reason) == (TrialPhase.FAILED, "ObjectiveNotFinite")
    assert "loss=nan" in (trial.message or "")


def test_an_unparseable_metric_line_is_a_runner_warning_not_silence(tmp_path: Path) -> None:
    document = manifest(budget={"maxTrials": 1})
    program = "print('epoch=1 loss=0.5abc')"
    _command(document, sys.executable, "-m", "kubetune_runner", "--", sys.executable, "-c", program)
    study = run_study(document, tmp_path)
    trial = study.store.load_trials()[0]
    assert (trial.phase, trial.reason) == (TrialPhase.FAILED, "MetricsMissing")
    output = (study.store.trial_dir(0) / "output.log").read_text()
    assert "kubetune-runner: not a number, not reported: loss=0.5abc" in output
    assert "'epoch=1 loss=0.5abc'" in output


def test_more_gpus_per_trial_than_given_is_refused_naming_both(tmp_path: Path) -> None:
    document = manifest()
    document["spec"]["trialTemplate"]["resources"] = {"gpus": 2}
    options = LocalOptions(state_dir=tmp_path, workdir=HERE, gpus=("0",))
    with pytest.raises(InvalidStudy) as raised:
        LocalStudy(parse_study(document), options)
    message = str(raised.value)
    assert message.startswith("spec.trialTemplate.resources.gpus: each trial needs 2 GPUs")
    assert "--gpus gives 1 (0)" in message


def test_gpu_trials_without_gpus_are_warned_about_once(tmp_path: Path) -> None:
    document = manifest(budget={"maxTrials": 2, "parallelTrials": 2})
    document["spec"]["trialTemplate"]["resources"] = {"gpus": 1}
    said: list[str] = []
    study = run_study(document, tmp_path, warn=said.append)
    assert len(said) == 1 and "--gpus" in said[0] and "every GPU" in said[0]
    assert all(t.phase is TrialPhase.SUCCEEDED for t in study.store.load_trials())
    assert run_study(manifest(), tmp_path / "cpu", warn=said.append) and len(said) == 1


TRACEBACK = """\
import sys
print("epoch 1")
print("Traceback (most recent call last):", file=sys.stderr)
print('  File "train.py", line 3, in <module>', file=sys.stderr)
print("ValueError: lr must be positive", file=sys.stderr)
print("", file=sys.stderr)
sys.exit(1)
"""


def test_a_failed_trial_shows_its_error_in_the_panel_status_line_and_table(
    tmp_path: Path,
) -> None:
    document = manifest(budget={"maxTrials": 1})
    _command(document, sys.executable, "-c", TRACEBACK)
    views: list[StudyView] = []
    study = LocalStudy(
        parse_study(document), LocalOptions(state_dir=tmp_path, workdir=HERE, poll_seconds=0.02)
    )
    study.open()
    views.append(study.run(views.append))
    error = "ValueError: lr must be positive"
    assert error in status_line(views[-1])
    panel_text = Console(width=200, record=True)
    panel_text.print(panel(views[-1]))
    assert error in panel_text.export_text()
    record = read_local_study(tmp_path, study.name)
    rows = result_rows(record)
    assert rows[0]["message"].endswith(error)
    table = Console(width=300, record=True)
    table.print(render_results(record, "table", None))
    text = table.export_text()
    assert error in text
    assert "Traceback" not in text


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


LINGERING = """\
import os, sys, time
directory = os.environ["KUBETUNE_LOCAL_DIR"]
if os.path.exists("release"):
    print("loss=0.5")
    sys.exit(0)
with open(os.path.join(directory, "training.pid"), "w") as out:
    out.write(str(os.getpid()))
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "runner",
    [[sys.executable, "-m", "kubetune_runner"], ["kubetune-runner"]],
    ids=["python -m kubetune_runner", "kubetune-runner (its job done by the backend)"],
)
def test_a_killed_run_leaves_no_training_process_behind_on_resume(
    tmp_path: Path, runner: list[str]
) -> None:
    """The runner starts the program in its own session: killing the runner's group is
    not enough, the training (and the GPU it holds) would keep running beside its rerun."""
    document = manifest(budget={"maxTrials": 1})
    wrapper = [*runner, "--", sys.executable, "-c", LINGERING]
    _command(document, *wrapper)
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(document))
    state = tmp_path / "state"
    command = [sys.executable, "-m", "kubetune.cli", "run", str(study_file),
               "--state-dir", str(state), "--workdir", str(tmp_path)]  # fmt: skip
    backend = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = state / "t" / "trials" / "0" / "training.pid"
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    training = int(pid_file.read_text())
    os.kill(backend.pid, signal.SIGKILL)
    backend.wait()
    try:
        assert _alive(training)  # orphaned, still running
        (tmp_path / "release").touch()
        study = run_study(document, state, workdir=tmp_path)
        deadline = time.monotonic() + 10
        while _alive(training) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(training)
        assert study.store.load_trials()[0].phase is TrialPhase.SUCCEEDED
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(training, signal.SIGKILL)
