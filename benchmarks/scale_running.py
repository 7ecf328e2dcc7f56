"""6,000 trials Running at once, bound by the real kube-scheduler to fractional GPUs.

A user's reference for scale is "6,000 HPO tasks simultaneously" on shared GPUs; Katib saw
160 of 3,600 trial pods. This script measures the whole path on the test control plane:

1. start a control plane whose nodes are simulated (``tests/cluster/sim_nodes.py``): each
   advertises ``--gpus-per-node`` units of ``nvidia.com/gpu.shared`` (8 GPUs time-sliced 8
   ways by default), the scheduler binds trial pods to them, and the simulator reports each
   bound pod Running without starting a process;
2. start ``kubetune operator``; apply ``--studies`` studies of ``--parallel`` trials each
   (``maxTrials = parallelTrials``: every trial is wanted at once), each trial asking for one
   unit with ``gpuFraction`` 1/8;
3. time, from the first apply, until every Trial exists, every pod is Running and every
   Trial says Running (the operator has seen its pod and written its status);
4. sample the operator's CPU seconds and peak RSS, each component's CPU seconds, and the
   API server's ``apiserver_request_total`` by resource and verb.

    .venv/bin/python -m benchmarks.scale_running [--studies 60 --parallel 100] [--write-docs]

Not a test: it prints a table (``--write-docs`` puts it in docs/benchmarks.md between the
scale-running markers).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from benchmarks.scale import (
    REPO,
    STUDY_LABEL,
    ProcessSampler,
    RawApi,
    _free_port,
    _get,
    _sample,
    _wait,
    install_crds,
    start_operator,
    stop_operator,
    study,
    write_docs,
)
from kubetune.kube.client import Kube, load_configuration

START, END = "<!-- scale-running:start -->", "<!-- scale-running:end -->"
GPU_RESOURCE = "nvidia.com/gpu.shared"
TIME_SLICES = 8
"""Trials sharing one physical GPU (the time-slicing replicas); a trial holds 1/8 of a GPU."""
COMPONENTS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "sim-nodes")
REQUEST_LINE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--parallel", type=int, default=100)
    parser.add_argument("--gpus-per-node", type=int, default=8 * TIME_SLICES)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--api-concurrency", type=int, default=16)
    parser.add_argument(
        "--client-qps",
        type=int,
        default=500,
        help="--kube-api-qps of the controller manager and scheduler (their defaults, 20 and "
        "50, would make the Job controller's pod creation the bottleneck)",
    )
    parser.add_argument(
        "--job-syncs",
        type=int,
        default=50,
        help="--concurrent-job-syncs of the Job controller (default 5: a few pods a second)",
    )
    parser.add_argument("--timeout", type=float, default=420.0, help="give up after (s)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from tests.cluster.controlplane import ClusterSettings, ControlPlane
    from tests.cluster.sim_nodes import SimulatedNodes

    trials = args.studies * args.parallel
    nodes = SimulatedNodes(
        count=math.ceil(trials / args.gpus_per_node),
        gpu_resource=GPU_RESOURCE,
        gpus=args.gpus_per_node,
        pods=max(110, args.gpus_per_node),
    )
    state = Path(tempfile.mkdtemp(prefix="kubetune-scale-running-"))
    plane = ControlPlane(
        ClusterSettings(
            state_dir=state,
            nodes=(),
            simulated=nodes,
            client_qps=args.client_qps,
            concurrent_job_syncs=args.job_syncs,
        )
    )
    print(f"starting a control plane with {nodes.count} simulated nodes in {state} ...")
    plane.start()
    load_before = os.getloadavg()
    try:
        pids = {c: p for c, p in plane.read_state().pids.items() if c in COMPONENTS}
        results = run(args, str(plane.kubeconfig), pids)
    finally:
        plane.stop()
        shutil.rmtree(state, ignore_errors=True)
    results.update(nodes=nodes.count, load=(load_before, os.getloadavg()))
    table = render(results, args)
    print(table)
    if args.write_docs:
        write_docs(table, START, END)


def run(args: argparse.Namespace, kubeconfig: str, pids: dict[str, int]) -> dict[str, Any]:
    kube = Kube(load_configuration(kubeconfig), pool_size=32, timeout_seconds=60)
    install_crds(kube)
    namespace = f"running-{os.getpid()}"
    kube.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    selector = f"labelSelector={STUDY_LABEL}"
    pods = PhaseWatcher(kubeconfig, f"/api/v1/namespaces/{namespace}/pods?{selector}")
    trials = PhaseWatcher(
        kubeconfig, f"/apis/kubetune.dev/v1alpha1/namespaces/{namespace}/trials?{selector}"
    )
    pods.start()
    trials.start()
    port = _free_port()
    operator, log = start_operator(kubeconfig, namespace, port, args.workers, args.api_concurrency)
    sampler = ProcessSampler(operator.pid)
    sampler.start()
    components = {name: ProcessSampler(pid) for name, pid in pids.items()}
    raw = RawApi(kubeconfig)
    wanted = args.studies * args.parallel
    try:
        requests_before = api_requests(raw.text("/metrics"))
        cpu_before = {name: s.cpu_seconds() for name, s in components.items()}
        operator_cpu_before = sampler.cpu_seconds()
        started = time.monotonic()
        resources = {"gpus": 1, "gpuResource": GPU_RESOURCE, "gpuFraction": 1 / TIME_SLICES}
        bodies = [
            study(f"r{i:03d}", args.parallel, args.parallel, resources, managed_by=None)
            for i in range(args.studies)
        ]
        path = f"/apis/kubetune.dev/v1alpha1/namespaces/{namespace}/tuningstudies"
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda body: kube.create(path, body), bodies))
        progress = Progress(pods, trials, wanted, started)
        try:
            _wait(progress.done, f"{wanted} Trials Running", args.timeout)
        except TimeoutError:
            print(f"gave up after {args.timeout:.0f}s; reporting what was reached", flush=True)
        elapsed = time.monotonic() - started
        requests = api_requests(raw.text("/metrics")) - requests_before
        operator_metrics = _get(f"http://127.0.0.1:{port}/metrics")
        return {
            "studies": args.studies,
            "parallel": args.parallel,
            "trials": wanted,
            "trials_created": reached(trials, trials.added_at, wanted, started),
            "pods_running": reached(pods, pods.running_at, wanted, started),
            "trials_running": reached(trials, trials.running_at, wanted, started),
            "operator_cpu": sampler.cpu_seconds() - operator_cpu_before,
            "peak_rss_mb": sampler.peak_rss_mb(),
            "component_cpu": {
                name: s.cpu_seconds() - cpu_before[name] for name, s in components.items()
            },
            "requests": requests,
            "elapsed": elapsed,
            "reconciles": _sample(operator_metrics, "kubetune_reconcile_duration_seconds_count"),
            "errors": _sample(operator_metrics, "kubetune_reconcile_errors_total"),
        }
    finally:
        stop_operator(operator, log)
        pods.stop()
        trials.stop()


def reached(watcher: PhaseWatcher, times: dict[str, float], wanted: int, started: float) -> str:
    """When the ``wanted``-th object got there, or how many did by the end."""
    with watcher.lock:
        ordered = sorted(times.values())
    if len(ordered) >= wanted:
        return f"{ordered[wanted - 1] - started:.1f} s"
    return f"not reached: {len(ordered)} of {wanted} after {time.monotonic() - started:.0f} s"


class Progress:
    """Prints the counts every few seconds while waiting; ``done`` when all Trials run."""

    def __init__(
        self, pods: PhaseWatcher, trials: PhaseWatcher, wanted: int, started: float
    ) -> None:
        self.pods, self.trials, self.wanted, self.started = pods, trials, wanted, started
        self.printed = started

    def done(self) -> bool:
        now = time.monotonic()
        if now - self.printed >= 10:
            self.printed = now
            print(
                f"{now - self.started:5.0f}s: {self.trials.added()} Trials, "
                f"{self.pods.added()} pods, {self.pods.running()} pods Running, "
                f"{self.trials.running()} Trials Running",
                flush=True,
            )
        return self.trials.running() >= self.wanted


class PhaseWatcher(threading.Thread):
    """When each object of a watch first appeared, and first showed ``status.phase`` Running."""

    def __init__(self, kubeconfig: str, path: str) -> None:
        super().__init__(daemon=True)
        self.raw = RawApi(kubeconfig)
        self.path = f"{path}&watch=1&timeoutSeconds=3600"
        self.lock = threading.Lock()
        self.added_at: dict[str, float] = {}
        self.running_at: dict[str, float] = {}
        self.stopped = False

    def run(self) -> None:
        try:
            while not self.stopped:
                for event in self.raw.watch(self.path):
                    self._event(event)
        except (urllib3.exceptions.HTTPError, OSError):
            if not self.stopped:
                raise

    def _event(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name")
        if name is None:
            return
        now = time.monotonic()
        with self.lock:
            self.added_at.setdefault(name, now)
            if (obj.get("status") or {}).get("phase") == "Running":
                self.running_at.setdefault(name, now)

    def added(self) -> int:
        with self.lock:
            return len(self.added_at)

    def running(self) -> int:
        with self.lock:
            return len(self.running_at)

    def stop(self) -> None:
        self.stopped = True


def api_requests(metrics_text: str) -> Counter[tuple[str, str]]:
    """``apiserver_request_total`` summed by (resource[/subresource], verb)."""
    totals: Counter[tuple[str, str]] = Counter()
    for line in metrics_text.splitlines():
        match = REQUEST_LINE.match(line)
        if match is None:
            continue
        labels = dict(LABEL.findall(match["labels"]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        totals[resource, labels.get("verb", "")] += int(float(match["value"]))
    return totals


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    requests: Counter[tuple[str, str]] = r["requests"]
    total = sum(requests.values())
    per_second = total / r["elapsed"]
    cpu = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in r["component_cpu"].items())
    (load_1, _, _), (load_2, _, _) = r["load"]
    rows = [
        (
            "studies × parallelTrials",
            f"{r['studies']} × {r['parallel']} = {r['trials']} trials on {r['nodes']} nodes",
            "",
        ),
        ("every Trial exists after", r["trials_created"], ""),
        ("every pod Running after", r["pods_running"], ""),
        ("every Trial Running after", r["trials_running"], "< 180 s"),
        ("operator CPU", f"{r['operator_cpu']:.0f} s", ""),
        ("operator peak RSS", f"{r['peak_rss_mb']:.0f} MB", "< 500 MB"),
        ("API requests (all clients)", f"{total} ({per_second:.0f}/s)", ""),
        ("reconciles / errors", f"{r['reconciles']:.0f} / {r['errors']:.0f}", "errors 0"),
        ("CPU of the other components", cpu, ""),
        ("load average (1 min) before / after", f"{load_1:.1f} / {load_2:.1f}", ""),
    ]
    lines = ["| measure | result | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    top = ["| requests by resource, verb | count |", "|---|---|"]
    top += [f"| {res} {verb} | {n} |" for (res, verb), n in requests.most_common(12)]
    command = (
        f".venv/bin/python -m benchmarks.scale_running --studies {args.studies} --parallel "
        f"{args.parallel} --gpus-per-node {args.gpus_per_node} --workers {args.workers} "
        f"--api-concurrency {args.api_concurrency} --client-qps {args.client_qps} "
        f"--job-syncs {args.job_syncs}"
    )
    machine = f"{os.cpu_count()} CPUs shared by every component, {sys.platform}"
    return "\n".join(
        [
            "## Trials Running at once, on fractional GPUs",
            "",
            f"`{command}` — simulated nodes advertising `{GPU_RESOURCE}` "
            f"({args.gpus_per_node} units each; a trial takes one, `gpuFraction` "
            f"1/{TIME_SLICES}), pods bound by the real kube-scheduler and reported Running by "
            f"`tests/cluster/sim_nodes.py`; {machine}; {datetime.now(UTC):%Y-%m-%d}.",
            "",
            *lines,
            "",
            *top,
            "",
        ]
    )


if __name__ == "__main__":
    main()
