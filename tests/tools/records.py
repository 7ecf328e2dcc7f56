"""Study records built in memory, for the figure tests, the browser tests and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from kubetune.api.trial import TrialPhase
from kubetune.history import IntermediateValue
from kubetune.record import RecordedTrial, StudyRecord, study_record
from kubetune.validation import parse_study

START = datetime(2026, 1, 1, tzinfo=UTC)


def spec_of(
    parameters: int = 2, objectives: int = 1, conditional: bool = False, **extra: Any
) -> Any:
    """A study spec with ``parameters`` float parameters p0..pN (p0 log-scaled) plus one
    categorical ``kind``, and ``objectives`` objectives (loss ↓, then speed ↑, size ↓...).
    ``conditional`` adds ``depth``, a float that exists only when ``kind`` is ``a``."""
    params: list[dict[str, Any]] = [
        {
            "name": f"p{i}",
            "type": "float",
            "low": 1e-3 if i == 0 else 0.0,
            "high": 1.0,
            "log": i == 0,
        }
        for i in range(parameters - 1)
    ]
    params.append({"name": "kind", "type": "categorical", "choices": ["a", "b", "c"]})
    if conditional:
        when = {"kind": ["a"]}
        params.append({"name": "depth", "type": "float", "low": 0, "high": 1, "when": when})
    metrics = [
        ("loss", "minimize"),
        ("speed", "maximize"),
        ("size", "minimize"),
        ("cost", "minimize"),
    ]
    chosen = [{"metric": m, "direction": d} for m, d in metrics[:objectives]]
    goal = {"objective": chosen[0]} if objectives == 1 else {"objectives": chosen}
    document = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "s"},
        "spec": {
            **goal,
            "parameters": params,
            "algorithm": {"name": "random"},
            "budget": {"maxTrials": 100_000, "parallelTrials": 8},
            "trialTemplate": {
                "resources": {"gpus": 1},
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["true"]}]}}},
            },
            **extra,
        },
    }
    return parse_study(document).spec


def record_of(trials: list[RecordedTrial], **spec: Any) -> StudyRecord:
    return study_record("s", spec_of(**spec), trials, source="memory")


def synthetic_record(
    count: int, parameters: int = 8, objectives: int = 1, seed: int = 0, conditional: bool = False
) -> StudyRecord:
    """``count`` trials of a study that depends mostly on p0 and p1: most succeed, some are
    pruned with a learning curve cut short, some fail with a message, a few still run."""
    rng = np.random.default_rng(seed)
    spec = spec_of(parameters, objectives, conditional)
    trials = []
    for index in range(count):
        x = rng.uniform(size=parameters - 1)
        params: dict[str, Any] = {f"p{i}": float(v) for i, v in enumerate(x)}
        params["p0"] = float(10 ** (-3 + 3 * x[0]))
        params["kind"] = str(rng.choice(["a", "b", "c"]))
        if conditional and params["kind"] == "a":
            params["depth"] = float(rng.uniform())
        loss = float((x[0] - 0.3) ** 2 + 0.5 * (x[1] - 0.7) ** 2 + 0.05 * rng.normal() ** 2) + 0.01
        values = {
            "loss": loss,
            "speed": float(100 * x[1] + rng.normal()),
            "size": float(x[2]),
            "cost": float(x[3]),
        }
        roll = rng.uniform()
        phase = (
            TrialPhase.FAILED
            if roll < 0.05
            else TrialPhase.PRUNED
            if roll < 0.35
            else TrialPhase.RUNNING
            if index >= count - 4
            else TrialPhase.SUCCEEDED
        )
        steps = 3 if phase is TrialPhase.PRUNED else 10
        curve = tuple(
            IntermediateValue(step, {"loss": loss * (1 + 2.0 / step)})
            for step in range(1, steps + 1)
        )
        start = START + timedelta(seconds=index * 7.0)
        trials.append(
            RecordedTrial(
                index=index,
                params=params,
                phase=phase,
                reason="EarlyStopped"
                if phase is TrialPhase.PRUNED
                else ("Error" if phase is TrialPhase.FAILED else None),
                message=(
                    "rung 0 (budget 3): below the top 1/3 of 12 trials"
                    if phase is TrialPhase.PRUNED
                    else "Traceback: CUDA out of memory <b>not bold</b>"
                    if phase is TrialPhase.FAILED
                    else None
                ),
                values={} if phase is TrialPhase.FAILED else values,
                intermediate=() if phase is TrialPhase.FAILED else curve,
                start_time=start,
                completion_time=None
                if phase is TrialPhase.RUNNING
                else start + timedelta(seconds=6.0 * steps),
                gpu_seconds=6.0 * steps,
                exit_code=1 if phase is TrialPhase.FAILED else 0,
            )
        )
    return study_record("synthetic", spec, trials, source="memory")


def pbt_record(members: int = 4, generations: int = 5, seed: int = 0) -> StudyRecord:
    """A population-based-training study as the ``pbt`` algorithm leaves it: each member
    trains ``generations`` segments of 10 resource units; from generation 1 on, the worse
    half of the members exploit (continue from) the best member's previous segment with a
    perturbed learning rate, the others continue from their own."""
    from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
    from kubetune.api.trial import trial_name

    rng = np.random.default_rng(seed)
    spec = spec_of(parameters=2)
    trials: list[RecordedTrial] = []
    last: dict[int, RecordedTrial] = {}
    for generation in range(generations):
        ranked = sorted(last.values(), key=lambda t: t.values["loss"])
        for member in range(members):
            index = len(trials)
            attributes: dict[str, Any] = {
                LineageAttribute.MEMBER: member,
                LineageAttribute.GENERATION: generation,
            }
            params: dict[str, Any] = {"p0": float(10 ** rng.uniform(-3, 0)), "kind": "a"}
            loss = 1.0
            if generation:
                own = last[member]
                exploit = ranked.index(own) >= members // 2
                parent = ranked[0] if exploit else own
                params = dict(parent.params)
                if exploit:
                    params["p0"] = min(1.0, float(parent.params["p0"]) * 1.2)
                attributes[LineageAttribute.PARENT] = trial_name("s", parent.index)
                attributes[LineageAttribute.EXPLOITED] = exploit
                attributes[RESTORE_ATTRIBUTE] = trial_name("s", parent.index)
                loss = parent.values["loss"]
            loss = loss * (0.7 + 0.2 * abs(np.log10(params["p0"]) + 2) / 2) + 0.01 * rng.uniform()
            trials.append(
                RecordedTrial(
                    index=index,
                    params=params,
                    phase=TrialPhase.SUCCEEDED,
                    attributes=attributes,
                    values={"loss": float(loss)},
                    budget=10.0 * (generation + 1),
                    start_time=START + timedelta(seconds=60 * generation),
                    completion_time=START + timedelta(seconds=60 * generation + 55),
                    gpu_seconds=55.0,
                )
            )
            last[member] = trials[-1]
    return study_record("s", spec, trials, source="memory")
