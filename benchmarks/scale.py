"""Operator scale: 120 studies × 30 parallel trials, then on to 10,000 Trials in all.

Katib's issue #1328 saw 160 of 3,600 expected trial pods running: its Trial→Job path could
not keep up. This script measures ours on the test control plane:

1. start a control plane with **no nodes** (pods would only measure the node agent), apply
   the CRDs, start ``kubetune operator`` as a subprocess;
2. create the studies; their Job template sets ``spec.managedBy``, so the Job controller
   leaves the Jobs alone and this script plays both the runner (it writes the Trial's
   ``status.values``) and the Job controller (it marks the Job Complete);
3. time until all ``studies × parallel`` Jobs exist;
4. then, in waves, complete one running trial per study and time each completion until the
   study's successor Job exists (seen on a watch), until ``--total-trials`` Trials exist;
5. sample the operator's CPU time and peak RSS from /proc throughout.

    .venv/bin/python -m benchmarks.scale [--kubeconfig K] [--write-docs]

Not a test: it prints a table (and with ``--write-docs`` puts it in docs/benchmarks.md
between the scale markers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import urllib3
import yaml

from benchmarks import scale_phases
from benchmarks.scale_pods import Pods
from kubetune.kube.client import Kube, load_configuration

REPO = Path(__file__).resolve().parents[1]
MANAGED_BY = "kubetune.dev/scale-benchmark"
STUDY_LABEL = "kubetune.dev/study"
DOCS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- scale:start -->", "<!-- scale:end -->"
OPERATOR_ENV = "KUBETUNE_SCALE_OPERATOR"
"""The ``kubetune`` executable to run as the operator, e.g. a wrapper that profiles it."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=120)
    parser.add_argument("--parallel", type=int, default=30)
    parser.add_argument("--total-trials", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--api-concurrency", type=int, default=16)
    parser.add_argument(
        "--pods",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give each Job a pod whose termination message carries the runner's final report,"
        " as on a cluster (benchmarks.scale_pods); --no-pods: Jobs only, as before 2026-12-01",
    )
    parser.add_argument("--kubeconfig", help="an existing test cluster (default: start one)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    plane = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        sys.path.insert(0, str(REPO))
        from tests.cluster.controlplane import ClusterSettings, ControlPlane

        state = Path(tempfile.mkdtemp(prefix="kubetune-scale-"))
        plane = ControlPlane(ClusterSettings(state_dir=state, nodes=()))
        print(f"starting a control plane without nodes in {state} ...", flush=True)
        plane.start()
        kubeconfig = str(plane.kubeconfig)
    try:
        results = run(args, kubeconfig)
    finally:
        if plane is not None:
            plane.stop()
    table = render(results, args)
    print(table)
    if args.write_docs:
        write_docs(table)


def run(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    kube = Kube(load_configuration(kubeconfig), pool_size=32, timeout_seconds=60)
    install_crds(kube)
    namespace = f"scale-{os.getpid()}"
    kube.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    pods = Pods(kube, namespace) if args.pods else None
    if pods is not None:
        pods.install()
    watcher = JobWatcher(kubeconfig, namespace, pods.job_added if pods else None)
    watcher.start()
    port = _free_port()
    operator, log = start_operator(kubeconfig, namespace, port, args.workers, args.api_concurrency)
    sampler = ProcessSampler(operator.pid)
    sampler.start()
    try:
        max_trials = math.ceil(args.total_trials / args.studies)
        names = [f"s{i:03d}" for i in range(args.studies)]
        pool = ThreadPoolExecutor(16)
        cpu_before = sampler.cpu_seconds()
        started = time.monotonic()
        list(
            pool.map(
                lambda n: kube.create(
                    f"/apis/kubetune.dev/v1alpha1/namespaces/{namespace}/tuningstudies",
                    study(n, max_trials, args.parallel),
                ),
                names,
            )
        )
        created = time.monotonic() - started
        wanted = args.studies * args.parallel
        _wait(lambda: watcher.count() >= wanted, f"{wanted} Jobs", 600)
        all_jobs = watcher.time_of_count(wanted) - started
        cpu_initial = sampler.cpu_seconds() - cpu_before
        print(f"{wanted} Jobs in {all_jobs:.1f}s", flush=True)
        if pods is not None:
            # Completions start from a settled cluster, as on one running its trials: every
            # pod Running and every Trial shown Running (else the first wave queues behind
            # the start-up's pod and status writes, and its tail is the start-up's).
            _wait(
                lambda: _running(_get(f"http://127.0.0.1:{port}/metrics")) >= wanted,
                f"{wanted} Trials Running",
                900,
            )
            print(f"{wanted} Trials Running after {time.monotonic() - started:.1f}s", flush=True)

        from benchmarks.scale_running import api_requests

        raw = RawApi(kubeconfig)
        operator_before = _get(f"http://127.0.0.1:{port}/metrics")
        requests_before = api_requests(raw.text("/metrics"))
        latencies, by_study = complete_in_waves(
            kube, watcher, namespace, names, max_trials, pool, pods
        )
        total = watcher.count()
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
        requests_after = api_requests(raw.text("/metrics"))
        return {
            "studies": args.studies,
            "parallel": args.parallel,
            "create_seconds": created,
            "all_jobs_seconds": all_jobs,
            "cpu_initial": cpu_initial,
            "latencies": latencies,
            "fairness": fairness(by_study),
            "total_trials": total,
            "cpu_total": sampler.cpu_seconds() - cpu_before,
            "peak_rss_mb": sampler.peak_rss_mb(),
            "reconciles": _sample(metrics, "kubetune_reconcile_duration_seconds_count"),
            "reconcile_seconds": _sample(metrics, "kubetune_reconcile_duration_seconds_sum"),
            "errors": _sample(metrics, "kubetune_reconcile_errors_total"),
            "phases": scale_phases.phase_table(operator_before, metrics, len(latencies)),
            "requests": scale_phases.requests_table(
                requests_before, requests_after, len(latencies)
            ),
        }
    finally:
        stop_operator(operator, log)
        watcher.stop()
        if pods is not None:
            pods.stop()


def start_operator(
    kubeconfig: str, namespace: str, port: int, workers: int, api_concurrency: int
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``kubetune operator`` as a subprocess watching one namespace, once it is healthy."""
    log_path = Path(tempfile.gettempdir()) / f"kubetune-scale-operator-{os.getpid()}.log"
    log = log_path.open("wb")  # closed by stop_operator
    operator = subprocess.Popen(
        [
            os.environ.get(OPERATOR_ENV) or str(Path(sys.executable).parent / "kubetune"),
            "operator",
            "--namespace",
            namespace,
            "--kubeconfig",
            kubeconfig,
            "--no-leader-election",
            "--metrics-port",
            str(port),
            "--workers",
            str(workers),
            "--api-concurrency",
            str(api_concurrency),
            "--reconcile-interval-seconds",
            "60",
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), "operator healthy", 60)
    except TimeoutError:
        stop_operator(operator, log)
        raise
    return operator, log


def stop_operator(operator: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    operator.terminate()
    operator.wait(30)
    log.close()


def study(
    name: str,
    max_trials: int,
    parallel: int,
    resources: dict[str, Any] | None = None,
    managed_by: str | None = MANAGED_BY,
) -> dict[str, Any]:
    """A random search of one float; ``managed_by`` None lets the Job controller run it."""
    job: dict[str, Any] = {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "train",
                        "image": "train:1",
                        "command": ["kubetune-runner", "--", "train", "--x=${params.x}"],
                    }
                ]
            }
        }
    }
    if managed_by is not None:
        job["managedBy"] = managed_by
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": -1.0, "high": 1.0}],
            "algorithm": {"name": "random"},
            "budget": {"maxTrials": max_trials, "parallelTrials": parallel},
            "trialTemplate": {"resources": resources or {"gpus": 1}, "job": job},
        },
    }


def complete_in_waves(
    kube: Kube,
    watcher: JobWatcher,
    namespace: str,
    names: list[str],
    max_trials: int,
    pool: ThreadPoolExecutor,
    pods: Pods | None = None,
) -> tuple[list[float], dict[str, list[float]]]:
    """One completion per study per wave; each one's latency to the successor Job, in order
    and by study."""
    next_to_complete = dict.fromkeys(names, 0)
    latencies: list[float] = []
    by_study: dict[str, list[float]] = {s: [] for s in names}
    while True:
        studies = [s for s in names if watcher.created(s) < max_trials]
        if not studies:
            return latencies, by_study
        before = {s: watcher.created(s) for s in studies}

        def complete(study_name: str) -> tuple[str, float]:
            index = next_to_complete[study_name]
            next_to_complete[study_name] += 1
            return study_name, finish_trial(kube, namespace, f"{study_name}-{index}", pods)

        done = dict(pool.map(complete, studies))
        _wait(
            lambda before=before, studies=studies: all(
                watcher.created(s) > before[s] for s in studies
            ),
            "successors",
            120,
        )
        for s in studies:
            latencies.append(watcher.added_at(s, before[s]) - done[s])
            by_study[s].append(latencies[-1])
        wave = latencies[-len(studies) :]
        print(
            f"{watcher.count()} Jobs; last wave p50 {statistics.median(wave):.2f}s, "
            f"max {max(wave):.2f}s",
            flush=True,
        )


def finish_trial(kube: Kube, namespace: str, name: str, pods: Pods | None = None) -> float:
    """What the runner, the kubelet and the Job controller would do when a trial ends; the
    moment it ended: its pod's container reported terminated, or without pods the Job marked
    complete."""
    values = {"loss": 0.5}
    kube.patch(
        f"/apis/kubetune.dev/v1alpha1/namespaces/{namespace}/trials/{name}/status",
        {"status": {"values": values, "lastStep": 1}},
    )
    ended = None
    if pods is not None:
        pods.finish(name, values, 1)
        ended = time.monotonic()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {
            "type": t,
            "status": "True",
            "reason": "CompletionsReached",
            "message": "benchmark",
            "lastTransitionTime": now,
            "lastProbeTime": now,
        }
        for t in ("SuccessCriteriaMet", "Complete")
    ]
    kube.patch(
        f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}/status",
        {
            "status": {
                "startTime": now,
                "completionTime": now,
                "succeeded": 1,
                "conditions": conditions,
            }
        },
    )
    return ended if ended is not None else time.monotonic()


class RawApi:
    """GETs and watches without the ``kubernetes`` models: text and JSON lines as they come."""

    def __init__(self, kubeconfig: str) -> None:
        configuration = load_configuration(kubeconfig)
        self.host = configuration.host
        self.http = urllib3.PoolManager(
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )
        token = configuration.get_api_key_with_prefix("BearerToken")
        self.headers = {"Authorization": token} if token else {}

    def text(self, path: str) -> str:
        response = self.http.request("GET", self.host + path, headers=self.headers)
        return str(response.data.decode())

    def watch(self, path: str) -> Iterator[dict[str, Any]]:
        """The events of one watch request, until the server ends it."""
        response = self.http.request(
            "GET",
            self.host + path,
            headers=self.headers,
            preload_content=False,
            timeout=urllib3.Timeout(read=None),
        )
        buffer = b""
        for chunk in response.stream(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)


class JobWatcher(threading.Thread):
    """Times every Job's ADDED event, from a raw watch (no model deserialization)."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        on_added: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.on_added = on_added
        """Told of each new Job (the pods' Job controller)."""
        self.raw = RawApi(kubeconfig)
        self.path = (
            f"/apis/batch/v1/namespaces/{namespace}/jobs?watch=1"
            f"&timeoutSeconds=3600&labelSelector={urllib.parse.quote(STUDY_LABEL)}"
        )
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.by_study: dict[str, list[float]] = {}
        self.seen: set[str] = set()
        self.stopped = False

    def run(self) -> None:
        try:
            self._watch()
        except (urllib3.exceptions.HTTPError, OSError):
            if not self.stopped:
                raise

    def _watch(self) -> None:
        while not self.stopped:
            for event in self.raw.watch(self.path):
                self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("type") != "ADDED":
            return
        metadata = event["object"]["metadata"]
        name = metadata["name"]
        with self.lock:
            if name in self.seen:
                return
            self.seen.add(name)
            now = time.monotonic()
            self.times.append(now)
            self.by_study.setdefault(metadata["labels"][STUDY_LABEL], []).append(now)
        if self.on_added is not None:
            self.on_added(event["object"])

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def created(self, study_name: str) -> int:
        with self.lock:
            return len(self.by_study.get(study_name, []))

    def added_at(self, study_name: str, position: int) -> float:
        with self.lock:
            return self.by_study[study_name][position]

    def time_of_count(self, n: int) -> float:
        with self.lock:
            return sorted(self.times)[n - 1]

    def stop(self) -> None:
        self.stopped = True


class ProcessSampler(threading.Thread):
    """CPU seconds and peak RSS of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0

    def run(self) -> None:
        while True:
            try:
                self.peak_rss_mb()
            except OSError:
                return
            time.sleep(0.5)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        return self.peak_kb / 1024


def install_crds(kube: Kube) -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", document)
    for name in ("tuningstudies.kubetune.dev", "trials.kubetune.dev"):
        _wait(lambda n=name: _established(kube, n), f"CRD {name}", 60)


def _established(kube: Kube, name: str) -> bool:
    crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") or {}
    return any(
        c["type"] == "Established" and c["status"] == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


def fairness(by_study: dict[str, list[float]]) -> tuple[float, float, float, float]:
    """Per-study median latencies (lowest, median, highest) and Jain's index over the studies'
    mean latencies (1: every study waits alike; 1/n: one study takes all the waiting)."""
    medians = sorted(statistics.median(v) for v in by_study.values() if v)
    means = [statistics.fmean(v) for v in by_study.values() if v]
    if not medians:
        return (math.nan,) * 4
    jain = sum(means) ** 2 / (len(means) * sum(m * m for m in means))
    return medians[0], statistics.median(medians), medians[-1], jain


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    lat = sorted(r["latencies"])
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")
    first = r["latencies"][: r["studies"]]
    jobs = r["studies"] * r["parallel"]
    mean_ms = 1000 * r["reconcile_seconds"] / max(r["reconciles"], 1)
    rows = [
        ("studies × parallelTrials", f"{r['studies']} × {r['parallel']} = {jobs} Jobs", ""),
        ("all Jobs exist after", f"{r['all_jobs_seconds']:.1f} s", "< 60 s"),
        ("operator CPU until then", f"{r['cpu_initial']:.1f} s", ""),
        ("completion → successor Job, p50", f"{p50:.2f} s ({len(lat)} samples)", ""),
        ("completion → successor Job, p99", f"{p99:.2f} s", "< 2 s"),
        (
            "first wave only, p50 / max",
            f"{statistics.median(first):.2f} s / {max(first):.2f} s" if first else "",
            "",
        ),
        (
            "per-study median latency: lowest / median / highest",
            "{:.2f} s / {:.2f} s / {:.2f} s".format(*r["fairness"][:3]),
            "",
        ),
        ("fairness (Jain's index of per-study mean latency)", f"{r['fairness'][3]:.3f}", "1"),
        ("Trials at the end", f"{r['total_trials']}", "10,000"),
        ("operator CPU, whole run", f"{r['cpu_total']:.0f} s", ""),
        ("operator peak RSS", f"{r['peak_rss_mb']:.0f} MB", "< 400 MB"),
        ("reconciles (mean time)", f"{r['reconciles']:.0f} ({mean_ms:.0f} ms)", ""),
        ("reconcile errors", f"{r['errors']:.0f}", "0"),
    ]
    lines = ["| measure | result | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    command = (
        f".venv/bin/python -m benchmarks.scale --studies {args.studies} --parallel "
        f"{args.parallel} --total-trials {args.total_trials} --workers {args.workers} "
        f"--api-concurrency {args.api_concurrency}" + ("" if args.pods else " --no-pods")
    )
    machine = f"{os.cpu_count()} CPUs (shared with the control plane), {sys.platform}"
    pods = ", each with a pod it runs and ends" if args.pods else ", no pods"
    note = (
        f"Each wave completes one trial of every study at the same instant ({r['studies']} "
        "completions at once), the worst case for latency: the last study of a wave waits "
        f"until the operator and the API server have got through the wave's {r['studies']} "
        "reconciles, which is where the p99 comes from (the script prints each wave's p50 and "
        "max). "
        + (
            "Each Job has a pod (`benchmarks.scale_pods`: created and reported Running by the "
            "script, as the Job controller and a kubelet would), and a completion ends its "
            "container with the runner's final report as the termination message, so the "
            "operator reads the result from its pod watch with no GET, as on a cluster; a "
            "completion's latency runs from that pod status write to the successor's Job."
            if args.pods
            else "Each completion costs the operator a fresh GET of the Trial (these Jobs have "
            "no pod, so no termination message carries the runner's final report, which saves "
            "the GET on a real cluster)."
        )
    )
    return "\n".join(
        [
            "## Operator scale",
            "",
            f"`{command}` — control plane without nodes, Jobs with `spec.managedBy` completed "
            f"by the script{pods}; {machine}; {datetime.now(UTC):%Y-%m-%d}.",
            "",
            *lines,
            "",
            note,
            "",
            "Where the completions' time went (the operator's histograms over the completion "
            "waves only; per completion = count ÷ completions):",
            "",
            r["phases"],
            "",
            r["requests"],
            "",
        ]
    )


def write_docs(table: str, start: str = START, end: str = END) -> None:
    """Put the table in docs/benchmarks.md between the markers (appended if they are new)."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)
    print(f"wrote {DOCS}")


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _running(metrics_text: str) -> float:
    """Trials the operator shows Running, over every study (``kubetune_trials``)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics_text.splitlines()
        if line.startswith("kubetune_trials{") and 'phase="Running"' in line
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _wait(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
