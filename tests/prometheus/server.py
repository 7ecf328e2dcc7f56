"""A Prometheus process on loopback that scrapes given targets, and a client for its API.

The Grafana dashboard is only as good as its PromQL, and PromQL is only checked by
evaluating it: a real Prometheus scraping the real operator catches a misspelled series,
a `by` label the metric lacks, a `rate` over a gauge or a histogram quantile without `le`,
which no reading of the JSON does. Everything here waits on observable states (the ready
endpoint, a target's health, a series' arrival), never on sleeps.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.processes import free_port, start_daemon, stop_child
from tests.cluster.wait import until
from tests.prometheus import build

SCRAPE_INTERVAL_SECONDS = 1
"""How often the test Prometheus scrapes: short, so a study of a minute leaves many samples."""

JOB_NAME = "kubetune"
"""The scrape job's name, i.e. the `job` label of every scraped series."""

READY_TIMEOUT_SECONDS = 60.0
"""Start-up of an empty Prometheus takes about a second; a loaded CI machine needs more."""

STOP_GRACE_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 10.0


class PrometheusQueryError(AssertionError):
    """Prometheus refused a query; the message holds the query and Prometheus's reason."""


def scrape_config(targets: Sequence[str], interval_seconds: int = SCRAPE_INTERVAL_SECONDS) -> str:
    """prometheus.yml scraping `host:port` targets' /metrics every `interval_seconds`."""
    config = {
        "global": {
            "scrape_interval": f"{interval_seconds}s",
            "scrape_timeout": f"{interval_seconds}s",
            "evaluation_interval": f"{interval_seconds}s",
        },
        "scrape_configs": [{"job_name": JOB_NAME, "static_configs": [{"targets": list(targets)}]}],
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML, and needs no yaml dependency


@dataclass
class PrometheusServer:
    """One Prometheus started in `state_dir` (config, TSDB and log live there)."""

    state_dir: Path
    targets: Sequence[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "prometheus.log"

    def start(self) -> PrometheusServer:
        """Build if needed, start, and return once `/-/ready` answers 200."""
        build.build()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "prometheus.yml"
        config.write_text(scrape_config(self.targets))
        self.port = free_port()
        argv = [
            str(build.binary()),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = start_daemon(argv, self.log_path, cwd=self.state_dir)
        until(
            self._ready,
            bool,
            f"Prometheus ready at {self.url} (log: {self.log_path})",
            timeout=READY_TIMEOUT_SECONDS,
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_child(self.process, STOP_GRACE_SECONDS)
            self.process = None

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"Prometheus exited with {self.process.returncode}; its log:\n"
                + self.log_path.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    # -- the HTTP API ----------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>` and return its `data`; a refused query raises with the reason."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422: a bad query, with a JSON reason
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
            )
        # Warnings (a malformed `le`, ...) and infos (a rate() over a series that is not a
        # counter, ...) are how Prometheus says a query answers something else than meant.
        notes = [*body.get("warnings", []), *body.get("infos", [])]
        if notes:
            raise PrometheusQueryError(f"{path} {params}: {notes}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) of `expr` at unix time `at`."""
        data = self.api("query", query=expr, time=f"{at:.3f}")
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(
        self, expr: str, start: float, end: float, step_seconds: float
    ) -> list[dict[str, Any]]:
        """The matrix of `expr` from `start` to `end` (unix times) every `step_seconds`."""
        data = self.api(
            "query_range",
            query=expr,
            start=f"{start:.3f}",
            end=f"{end:.3f}",
            step=f"{step_seconds:g}",
        )
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets_health(self) -> list[str]:
        """Health ("up", "down", "unknown") of every active scrape target."""
        return [target["health"] for target in self.api("targets")["activeTargets"]]

    def wait_until_scraped(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once every target is up and a scraped `up` sample is queryable."""
        until(
            self.targets_health,
            lambda health: len(health) == len(self.targets) and set(health) == {"up"},
            f"every scrape target of {self.url} to be up",
            timeout=timeout,
        )
        until(
            lambda: self.api("query", query=f'up{{job="{JOB_NAME}"}} == 1')["result"],
            lambda result: len(result) == len(self.targets),
            "a successful scrape of every target in the TSDB",
            timeout=timeout,
        )

    def wait_for_result(self, expr: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until the instant query `expr` returns something, e.g. `x == 6` once x is 6."""
        return until(
            lambda: self.query(expr, at=time.time()),
            bool,
            f"a result of {expr}",
            timeout=timeout,
        )

    def wait_for_samples(self, selector: str, count: int, timeout: float = 60.0) -> None:
        """Wait until some series of `selector` has `count` samples from the last 5 minutes."""
        until(
            lambda: self.api("query", query=f"count_over_time({selector}[5m])")["result"],
            lambda result: any(float(series["value"][1]) >= count for series in result),
            f"{count} scraped samples of {selector}",
            timeout=timeout,
        )
