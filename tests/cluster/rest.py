"""A minimal JSON client for the Kubernetes API, for the harness's own daemons.

The node agent needs a dozen calls and one watch. Plain HTTPS keeps it independent of
the `kubernetes` package's generated client, whose calling conventions change between
major versions (content types of patches, return models), and makes every request
visible in one place. Tests and the operator use the `kubernetes` package instead.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.cluster.kubeconfig import ca_of, server_of

MERGE_PATCH = "application/merge-patch+json"


class ApiError(RuntimeError):
    """The API server answered with a non-2xx status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class RestClient:
    """Requests against one API server with one client certificate."""

    def __init__(self, server: str, ca_cert: Path, client_cert: Path, client_key: Path) -> None:
        self.server = server
        self.ca_cert = ca_cert
        self._context = ssl.create_default_context(cafile=str(ca_cert))
        self._context.load_cert_chain(client_cert, client_key)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> RestClient:
        """A client for a kubeconfig written by `tests.cluster.kubeconfig`."""
        user = json.loads(path.read_text())["users"][0]["user"]
        return cls(
            server_of(path),
            ca_of(path),
            Path(user["client-certificate"]),
            Path(user["client-key"]),
        )

    def _open(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        content_type: str,
        timeout: float,
    ) -> Any:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            return urllib.request.urlopen(request, context=self._context, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace")) from None

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> dict[str, Any]:
        with self._open(method, path, body, query, content_type, timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else {}

    def ok(self, path: str) -> bool:
        """Whether GET `path` answers 200; for readiness probes, so errors mean False."""
        try:
            with self._open("GET", path, None, None, "", timeout=5) as response:
                return bool(response.status == 200)
        except (ApiError, OSError):
            return False

    def watch(
        self, path: str, query: Mapping[str, Any], timeout_seconds: int
    ) -> Iterator[dict[str, Any]]:
        """Watch events (`{"type": ..., "object": ...}`) until the server ends the watch."""
        query = {**query, "watch": "true", "timeoutSeconds": timeout_seconds}
        with self._open("GET", path, None, query, "", timeout_seconds + 30) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)
