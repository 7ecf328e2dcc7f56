"""One 20,000-trial study: object sizes, the operator's cache memory and a reconcile's cost.

A study this big must not break etcd's 1.5 MiB object limit anywhere (Katib's Suggestion
did), and the operator must keep its whole world in memory and reconcile it in a fraction of
a second. This script builds the study's objects exactly as the operator and the runner
write them — Trials with their spec, the operator's status and the runner's values and
intermediate curve (``--points`` reports of ``--metrics`` metrics), their Jobs as the
operator renders them, completed — and measures, without a cluster:

- the JSON size of the largest Trial, of a Job and of the study's status;
- the memory the operator's watch cache takes for them (``ObjectCache``, RSS before/after);
- one reconcile of the study (``Reconciler.reconcile`` against an in-memory API): its time,
  with ``--parallel`` trials running and a completion to act on.

    .venv/bin/python -m benchmarks.scale_study [--trials 20000] [--write-docs]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.scale import write_docs
from kubetune.api.study import MAX_PARETO_FRONT, StudySpec
from kubetune.api.trial import MAX_INTERMEDIATE_POINTS
from kubetune.kube import objects, paths
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.reconciler import Reconciler
from kubetune.kube.settings import OperatorSettings

START, END = "<!-- scale-study:start -->", "<!-- scale-study:end -->"
NAMESPACE, NAME, UID = "big", "big", "study-uid"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ETCD_LIMIT_BYTES = 1536 * 1024
"""etcd's default request size limit: no object may come near it."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--objectives", type=int, default=2)
    parser.add_argument("--metrics", type=int, default=4, help="metrics each trial reports")
    parser.add_argument("--points", type=int, default=MAX_INTERMEDIATE_POINTS)
    parser.add_argument("--reconciles", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    table = render(measure(args), args)
    print(table)
    if args.write_docs:
        write_docs(table, START, END)


def study_body(args: argparse.Namespace) -> dict[str, Any]:
    goals = [{"metric": f"m{i}", "direction": "minimize"} for i in range(args.objectives)]
    spec = {
        **({"objective": goals[0]} if args.objectives == 1 else {"objectives": goals}),
        "metrics": [f"extra{i}" for i in range(max(0, args.metrics - args.objectives))],
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
            {"name": "layers", "type": "int", "low": 1, "high": 8},
            {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "lamb"]},
        ],
        "algorithm": {"name": "random"},
        "budget": {"maxTrials": args.trials + args.parallel, "parallelTrials": args.parallel},
        "trialTemplate": {
            "resources": {"gpus": 1},
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "image": "example.org/train:1.0",
                                "command": ["kubetune-runner", "--", "python", "train.py"],
                                "args": ["--lr=${params.lr}", "--layers=${params.layers}"],
                            }
                        ]
                    }
                }
            },
        },
    }
    metadata = {"name": NAME, "namespace": NAMESPACE, "uid": UID, "generation": 1}
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {**metadata, "resourceVersion": "1"},
        "spec": spec,
    }


def finished_trial(
    index: int, args: argparse.Namespace, rng: random.Random, versions: Any
) -> dict[str, Any]:
    params = {"lr": 10 ** rng.uniform(-5, -1), "layers": rng.randint(1, 8), "optimizer": "adam"}
    trial = objects.render_trial(NAME, NAMESPACE, UID, index, params, None)
    names = [f"m{i}" for i in range(args.objectives)]
    names += [f"extra{i}" for i in range(max(0, args.metrics - args.objectives))]
    curve = [
        {"step": step, "values": {n: rng.random() for n in names}}
        for step in range(1, args.points + 1)
    ]
    start = NOW - timedelta(hours=2)
    trial["metadata"] |= {"uid": f"uid-{index}", "resourceVersion": str(next(versions))}
    trial["status"] = {
        "phase": "Succeeded",
        "reason": "Completed",
        "message": "",
        "exitCode": 0,
        "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "completionTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gpuSeconds": 1800.0,
        "values": curve[-1]["values"] if curve else {n: rng.random() for n in names},
        "value": rng.random(),
        "lastStep": args.points,
        "intermediate": curve,
        "conditions": [
            {
                "type": t,
                "status": s,
                "reason": "Completed",
                "message": "",
                "lastTransitionTime": "2026-01-01T10:30:00Z",
            }
            for t, s in (("Running", "False"), ("Succeeded", "True"))
        ],
    }
    return trial


def completed_job(spec: StudySpec, trial: dict[str, Any], versions: Any) -> dict[str, Any]:
    job = objects.render_job(spec, trial, "study-uid")
    job["metadata"] |= {"uid": f"job-{trial['metadata']['uid']}", "resourceVersion": "1"}
    job["metadata"]["resourceVersion"] = str(next(versions))
    job["status"] = {
        "succeeded": 1,
        "startTime": trial["status"]["startTime"],
        "completionTime": trial["status"]["completionTime"],
        "conditions": [
            {"type": t, "status": "True", "reason": "CompletionsReached"}
            for t in ("SuccessCriteriaMet", "Complete")
        ],
    }
    return job


def measure(args: argparse.Namespace) -> dict[str, Any]:
    body = study_body(args)
    spec = StudySpec.model_validate(body["spec"])
    rng = random.Random(1)
    versions = itertools.count(10)
    cache = ObjectCache()
    cache.apply(Kind.STUDY, None, body)
    gc.collect()
    rss_before = rss_mb()
    biggest_trial = biggest_job = 0
    for index in range(args.trials):
        trial = finished_trial(index, args, rng, versions)
        job = completed_job(spec, trial, versions)
        biggest_trial = max(biggest_trial, len(json.dumps(trial)))
        biggest_job = max(biggest_job, len(json.dumps(job)))
        cache.apply(Kind.TRIAL, None, trial)
        cache.apply(Kind.JOB, None, job)
    gc.collect()
    cache_mb = rss_mb() - rss_before

    api = InMemoryApi(next(versions))
    api.objects[paths.study_status(NAMESPACE, NAME).removesuffix("/status")] = json.loads(
        json.dumps(body)
    )
    with ThreadPoolExecutor(16) as pool:
        reconciler = Reconciler(
            api,  # type: ignore[arg-type]
            cache,
            OperatorSettings(),
            pool,
            EventRecorder(api, pool),  # type: ignore[arg-type]
            JobEvents(api, 10.0),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        started = time.process_time()
        reconciler.reconcile((NAMESPACE, NAME))  # launches --parallel trials
        first = time.process_time() - started
        times = []
        for _ in range(args.reconciles):
            finish_one(cache, spec, versions)  # a completion: the next reconcile launches one
            started = time.process_time()
            reconciler.reconcile((NAMESPACE, NAME))
            times.append(time.process_time() - started)
    status = cache.study((NAMESPACE, NAME)) or {}
    return {
        "trials": args.trials,
        "cached": cache.size(Kind.TRIAL),
        "biggest_trial": biggest_trial,
        "biggest_job": biggest_job,
        "status_bytes": len(json.dumps(status.get("status") or {})),
        "front": (status.get("status") or {}).get("paretoFrontSize"),
        "cache_mb": cache_mb,
        "peak_rss_mb": peak_rss_mb(),
        "first_reconcile": first,
        "reconcile": statistics.median(times),
        "api_calls": api.calls,
    }


def finish_one(cache: ObjectCache, spec: StudySpec, versions: Any) -> None:
    """The oldest running trial ends: its Job completes and its values arrive."""
    key = (NAMESPACE, NAME)
    jobs = cache.get(Kind.JOB, key)
    name = min((n for n, j in jobs.items() if not j.get("status")), key=_index)
    trial = json.loads(json.dumps(cache.get(Kind.TRIAL, key)[name]))
    trial["status"] = {**(trial.get("status") or {}), "values": {"m0": 0.5, "m1": 0.5}}
    trial["metadata"]["resourceVersion"] = str(next(versions))
    cache.apply(Kind.TRIAL, None, trial)
    job = {**jobs[name], "metadata": {**jobs[name]["metadata"]}}
    job["metadata"]["resourceVersion"] = str(next(versions))
    job["status"] = {
        "completionTime": "2026-01-01T11:59:00Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    cache.apply(Kind.JOB, None, job)


def _index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


class InMemoryApi:
    """Creates, patches and GETs answered from a dict: the reconcile's own cost, no network."""

    def __init__(self, first_version: int) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.versions = itertools.count(first_version + 1_000_000)
        self.calls = 0

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("metadata", {})["resourceVersion"] = str(next(self.versions))
        body["metadata"].setdefault("uid", f"uid-{body['metadata'].get('name')}")
        return body

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls += 1
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            return None
        self.objects[key] = self._stamp(json.loads(json.dumps(body)))
        return self.objects[key]

    def get(self, path: str) -> dict[str, Any] | None:
        self.calls += 1
        return self.objects.get(path)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls += 1
        target = self.objects.get(path.removesuffix("/status"))
        if target is None:
            return None
        for part, fields in body.items():
            target.setdefault(part, {}).update(fields)
        return self._stamp(target)

    def delete(self, path: str, propagation: str = "Background") -> bool:
        self.calls += 1
        return self.objects.pop(path, None) is not None

    def list(self, path: str, label_selector: str | None = None, field_selector: str | None = None):
        return {"items": []}


def rss_mb() -> float:
    return _status_kb("VmRSS:") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM:") / 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    limit = ETCD_LIMIT_BYTES
    rows = [
        ("Trials (in the operator's cache)", f"{r['trials']} ({r['cached']})", ""),
        (
            "largest Trial (JSON)",
            f"{r['biggest_trial'] / 1024:.1f} KiB ({args.points} points × {args.metrics} metrics)",
            f"≪ {limit // 1024} KiB",
        ),
        ("a Job (JSON)", f"{r['biggest_job'] / 1024:.1f} KiB", f"≪ {limit // 1024} KiB"),
        (
            "study status (JSON)",
            f"{r['status_bytes'] / 1024:.1f} KiB (Pareto front of {r['front']}, "
            f"{min(r['front'] or 0, MAX_PARETO_FRONT)} listed)",
            "bounded by the spec",
        ),
        ("operator cache for Trials and Jobs", f"{r['cache_mb']:.0f} MB", ""),
        ("peak RSS of this process", f"{r['peak_rss_mb']:.0f} MB", "< 500 MB"),
        ("first reconcile (launches the trials), CPU", f"{r['first_reconcile']:.2f} s", ""),
        ("reconcile after a completion, CPU, median", f"{r['reconcile'] * 1000:.0f} ms", ""),
    ]
    lines = ["| measure | result | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    command = (
        f".venv/bin/python -m benchmarks.scale_study --trials {args.trials} --parallel "
        f"{args.parallel} --objectives {args.objectives} --metrics {args.metrics} --points "
        f"{args.points}"
    )
    return "\n".join(
        [
            "## One 20,000-trial study",
            "",
            f"`{command}` — the study's objects as the operator and the runner write them, in "
            "the operator's cache; reconciles against an in-memory API (no network), timed in "
            "CPU seconds of the process, so the figure is the operator's own whatever the "
            f"machine's load; {os.cpu_count()} CPUs shared, load average "
            f"{os.getloadavg()[0]:.1f}; {datetime.now(UTC):%Y-%m-%d}.",
            "",
            *lines,
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
