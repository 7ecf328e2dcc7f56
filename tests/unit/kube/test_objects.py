"""Job and Trial rendering: substitution, runner env, GPUs, ownership, labels, user choices kept."""

from __future__ import annotations

import json
from typing import Any

from kubetune.api.attributes import RESTORE_ATTRIBUTE
from kubetune.api.study import CHECKPOINT_MOUNT_PATH, StudySpec
from kubetune.kube.objects import (
    CHECKPOINT_VOLUME,
    TRIAL_ACCOUNT,
    evaluates,
    job_identity,
    render_job,
    render_trial,
    trial_account,
    trial_of,
)
from kubetune.lifecycle import CHECKPOINT_DIR_VARIABLE, RESTORE_FROM_VARIABLE


def _spec(**template: Any) -> StudySpec:
    job = template.pop(
        "job",
        {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "train",
                            "image": "train:1",
                            "command": ["kubetune-runner", "--", "python", "train.py"],
                            "args": ["--lr=${params.lr}", "--name=${trial}", "--epochs=${budget}"],
                            "env": [
                                {"name": "OPT", "value": "${params.opt}"},
                                {"name": "KUBETUNE_TRIAL", "value": "user-set"},
                            ],
                        },
                        {"name": "sidecar", "image": "side:1", "args": ["${params.opt}"]},
                    ]
                }
            }
        },
    )
    return StudySpec.model_validate(
        {
            "objectives": [
                {"metric": "acc", "direction": "maximize"},
                {"metric": "ms", "direction": "minimize"},
            ],
            "parameters": [
                {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
                {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
            ],
            "budget": {"maxTrials": 4, "resource": {"name": "epochs", "min": 1, "max": 9}},
            "trialTemplate": {"job": job, **template},
        }
    )


TRIAL = {
    "metadata": {"name": "s-3", "namespace": "ns", "uid": "trial-uid"},
    "spec": {"study": "s", "index": 3, "parameters": {"lr": 0.01, "opt": "adam"}, "budget": 3.0},
}


def _containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in job["spec"]["template"]["spec"]["containers"]}


def test_parameters_budget_and_trial_name_are_substituted_in_every_container() -> None:
    containers = _containers(render_job(_spec(), TRIAL, "study-uid"))

    assert containers["train"]["args"] == ["--lr=0.01", "--name=s-3", "--epochs=3"]
    assert {"name": "OPT", "value": "adam"} in containers["train"]["env"]
    assert containers["sidecar"]["args"] == ["adam"]


def test_primary_container_gets_the_runner_environment_over_user_values() -> None:
    env = {
        v["name"]: v["value"]
        for v in _containers(render_job(_spec(), TRIAL, "study-uid"))["train"]["env"]
    }

    assert env["KUBETUNE_TRIAL"] == "s-3"
    assert env["KUBETUNE_NAMESPACE"] == "ns"
    assert json.loads(env["KUBETUNE_PARAMS"]) == {"lr": 0.01, "opt": "adam"}
    assert json.loads(env["KUBETUNE_OBJECTIVE"]) == [
        {"metric": "acc", "direction": "maximize"},
        {"metric": "ms", "direction": "minimize"},
    ]
    assert env["KUBETUNE_BUDGET"] == "3"
    sidecar = _containers(render_job(_spec(), TRIAL, "study-uid"))["sidecar"]
    assert "env" not in sidecar


def test_gpus_go_to_requests_and_limits_of_the_primary_container_only() -> None:
    spec = _spec(resources={"gpus": 2, "gpuResource": "nvidia.com/mig-1g.10gb"})
    containers = _containers(render_job(spec, TRIAL, "study-uid"))

    resources = containers["train"]["resources"]
    assert resources["requests"]["nvidia.com/mig-1g.10gb"] == "2"
    assert resources["limits"]["nvidia.com/mig-1g.10gb"] == "2"
    assert "resources" not in containers["sidecar"]


def test_named_primary_container_is_the_one_instrumented() -> None:
    spec = _spec(primaryContainer="sidecar", resources={"gpus": 1})
    containers = _containers(render_job(spec, TRIAL, "study-uid"))

    assert containers["sidecar"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert "KUBETUNE_TRIAL" in {v["name"] for v in containers["sidecar"]["env"]}
    assert "resources" not in containers["train"]


def test_no_gpus_means_no_gpu_resources() -> None:
    assert "resources" not in _containers(render_job(_spec(), TRIAL, "study-uid"))["train"]


def test_job_is_owned_by_its_study_labelled_and_defaults_to_no_retries() -> None:
    """Owned by the study, not the Trial: the Trial's uid is not known until it is created,
    and the Job is created at the same time."""
    job = render_job(_spec(), TRIAL, "study-uid")

    assert job["metadata"]["name"] == "s-3"
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kubetune.dev/v1alpha1",
            "kind": "TuningStudy",
            "name": "s",
            "uid": "study-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    labels = {"kubetune.dev/study": "s", "kubetune.dev/trial": "s-3"}
    assert job["metadata"]["labels"] == labels
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == TRIAL_ACCOUNT
    assert pod["automountServiceAccountToken"] is True


def test_user_choices_in_the_job_spec_are_kept() -> None:
    job_spec = {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"team": "vision"}},
            "spec": {
                "restartPolicy": "OnFailure",
                "serviceAccountName": "trainer",
                "containers": [{"name": "t", "image": "i", "command": ["run"]}],
            },
        },
    }
    job = render_job(_spec(job=job_spec), TRIAL, "study-uid")

    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["template"]["metadata"]["labels"]["team"] == "vision"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "trainer"


def test_rendering_does_not_modify_the_study_template() -> None:
    spec = _spec(resources={"gpus": 1})
    before = json.dumps(spec.trial_template.job, sort_keys=True)
    render_job(spec, TRIAL, "study-uid")
    assert json.dumps(spec.trial_template.job, sort_keys=True) == before


def test_trial_is_owned_by_the_study_and_labelled_with_study_and_index() -> None:
    trial = render_trial("s", "ns", "study-uid", 7, {"lr": 0.1}, None)

    assert trial["metadata"]["name"] == "s-7"
    assert trial["metadata"]["labels"] == {
        "kubetune.dev/study": "s",
        "kubetune.dev/trial-index": "7",
    }
    owner = trial["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TuningStudy", "study-uid", True)
    assert trial["spec"] == {"study": "s", "index": 7, "parameters": {"lr": 0.1}}


def test_trial_account_may_only_read_trials_and_write_their_status() -> None:
    objects = dict((body["kind"], body) for _, body in trial_account("ns"))

    rules = objects["Role"]["rules"]
    assert {(tuple(r["resources"]), tuple(r["verbs"])) for r in rules} == {
        (("trials",), ("get",)),
        (("trials/status",), ("get", "patch", "update")),
    }
    assert objects["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": TRIAL_ACCOUNT, "namespace": "ns"}
    ]


def test_the_runner_learns_a_custom_termination_message_path() -> None:
    spec = _spec()
    default = _containers(render_job(spec, TRIAL, "study-uid"))["train"]
    assert default["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "KUBETUNE_TERMINATION_MESSAGE_PATH" not in {v["name"] for v in default["env"]}
    job = spec.trial_template.job
    job["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/tmp/final"
    env = {
        v["name"]: v["value"]
        for v in _containers(render_job(spec, TRIAL, "study-uid"))["train"]["env"]
    }
    assert env["KUBETUNE_TERMINATION_MESSAGE_PATH"] == "/tmp/final"


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in container.get("env") or [] if "value" in v}


def _restoring(parent: str) -> dict[str, Any]:
    return {**TRIAL, "spec": {**TRIAL["spec"], "attributes": {RESTORE_ATTRIBUTE: parent}}}


CLAIM = {"persistentVolumeClaim": {"claimName": "ckpt"}}


def test_a_checkpoint_claim_is_mounted_and_each_trial_gets_its_own_directory() -> None:
    job = render_job(_spec(checkpoints=CLAIM), _restoring("s-1"), "study-uid")
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": CHECKPOINT_VOLUME, "persistentVolumeClaim": {"claimName": "ckpt"}}
    ]
    train, sidecar = _containers(job)["train"], _containers(job)["sidecar"]
    assert train["volumeMounts"] == [
        {"name": CHECKPOINT_VOLUME, "mountPath": CHECKPOINT_MOUNT_PATH}
    ]
    assert "volumeMounts" not in sidecar
    env = _env(train)
    assert env[CHECKPOINT_DIR_VARIABLE] == f"{CHECKPOINT_MOUNT_PATH}/s/s-3"
    assert env[RESTORE_FROM_VARIABLE] == f"{CHECKPOINT_MOUNT_PATH}/s/s-1"
    assert not {CHECKPOINT_DIR_VARIABLE, RESTORE_FROM_VARIABLE} & set(_env(sidecar))


def test_a_trial_that_restores_nothing_starts_fresh() -> None:
    train = _containers(render_job(_spec(checkpoints=CLAIM), TRIAL, "study-uid"))["train"]
    assert _env(train)[CHECKPOINT_DIR_VARIABLE] == f"{CHECKPOINT_MOUNT_PATH}/s/s-3"
    assert RESTORE_FROM_VARIABLE not in _env(train)


def test_a_checkpoint_uri_is_handed_over_and_nothing_is_mounted() -> None:
    job = render_job(
        _spec(checkpoints={"uri": "s3://bucket/runs/"}), _restoring("s-0"), "study-uid"
    )
    train = _containers(job)["train"]
    assert _env(train)[CHECKPOINT_DIR_VARIABLE] == "s3://bucket/runs/s/s-3"
    assert _env(train)[RESTORE_FROM_VARIABLE] == "s3://bucket/runs/s/s-0"
    assert "volumes" not in job["spec"]["template"]["spec"]
    assert "volumeMounts" not in train


def test_no_checkpoints_configured_means_no_checkpoint_variables_even_when_asked() -> None:
    job = render_job(_spec(), _restoring("s-1"), "study-uid")
    env = _env(_containers(job)["train"])
    assert not {CHECKPOINT_DIR_VARIABLE, RESTORE_FROM_VARIABLE} & set(env)
    assert "volumes" not in job["spec"]["template"]["spec"]


def test_the_checkpoint_mount_keeps_the_templates_volumes_and_takes_its_path() -> None:
    job = _spec(checkpoints={**CLAIM, "mountPath": "/data/ckpt/"}).trial_template.job
    pod = job["template"]["spec"]
    pod["volumes"] = [{"name": "cache", "emptyDir": {}}]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "cache", "mountPath": "/cache"},
        {"name": "old", "mountPath": "/data/ckpt"},
    ]
    spec = _spec(checkpoints={**CLAIM, "mountPath": "/data/ckpt/"}, job=job)
    rendered = render_job(spec, TRIAL, "study-uid")
    assert [v["name"] for v in rendered["spec"]["template"]["spec"]["volumes"]] == [
        "cache",
        CHECKPOINT_VOLUME,
    ]
    train = _containers(rendered)["train"]
    assert train["volumeMounts"] == [
        {"name": "cache", "mountPath": "/cache"},
        {"name": CHECKPOINT_VOLUME, "mountPath": "/data/ckpt"},
    ]
    assert _env(train)[CHECKPOINT_DIR_VARIABLE] == "/data/ckpt/s/s-3"


def test_checkpoint_substitutions_in_a_job_name_the_same_locations_as_the_variables() -> None:
    spec = _spec(checkpoints=CLAIM)
    container = spec.trial_template.job["template"]["spec"]["containers"][0]
    container["args"] = ["--save=${checkpointDir}", "--load=${restoreFrom}"]
    train = _containers(render_job(spec, _restoring("s-1"), "study-uid"))["train"]
    env = _env(train)
    assert train["args"] == [
        f"--save={env[CHECKPOINT_DIR_VARIABLE]}",
        f"--load={env[RESTORE_FROM_VARIABLE]}",
    ]


# -- a Job and its Trial, created at once ---------------------------------------------------------


def test_a_job_carries_what_its_trial_says_and_a_trial_made_from_it_says_the_same() -> None:
    """A Job whose Trial was never created (the operator killed between the two creates)
    gets the very Trial it was rendered from: same index, parameters, budget, attributes."""
    trial = render_trial(
        "s", "ns", "study-uid", 3, {"lr": 0.01, "opt": "adam"}, 3.0, {"generation": 2}
    )
    job = render_job(_spec(), trial, "study-uid")

    identity = job_identity(job)
    assert identity == {
        "index": 3,
        "parameters": {"lr": 0.01, "opt": "adam"},
        "budget": 3.0,
        "attributes": {"generation": 2},
    }
    assert identity is not None
    assert trial_of(identity, "s", "ns", "study-uid") == trial
    assert evaluates(job, trial)


def test_a_job_evaluating_other_parameters_than_its_trial_is_told_apart() -> None:
    job = render_job(_spec(), TRIAL, "study-uid")
    other = {**TRIAL, "spec": {**TRIAL["spec"], "parameters": {"lr": 0.02, "opt": "adam"}}}
    stopped = {**TRIAL, "spec": {**TRIAL["spec"], "stop": True, "stopReason": "pruned"}}
    as_the_api_writes_it = {**TRIAL, "spec": {**TRIAL["spec"], "budget": 3}}

    assert not evaluates(job, other)
    assert evaluates(job, stopped)  # a stop changes the spec, not what runs
    assert evaluates(job, as_the_api_writes_it)  # 3.0 comes back as 3


def test_a_job_without_a_readable_identity_is_taken_on_trust() -> None:
    """An older operator's Job (owned by its Trial) has none; one edited into nonsense has
    none either: neither is deleted or adopted for it."""
    job = render_job(_spec(), TRIAL, "study-uid")
    del job["metadata"]["annotations"]
    broken = render_job(_spec(), TRIAL, "study-uid")
    broken["metadata"]["annotations"]["kubetune.dev/trial-spec"] = '{"parameters": 1'
    other = {**TRIAL, "spec": {**TRIAL["spec"], "index": 4}}

    assert job_identity(job) is None and evaluates(job, other)
    assert job_identity(broken) is None and evaluates(broken, other)
