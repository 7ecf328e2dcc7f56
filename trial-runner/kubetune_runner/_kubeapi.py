"""The two Kubernetes API calls a trial makes, with ``urllib`` and the pod's service account.

A client library would be a dependency every training image must carry; the runner needs
only GET and merge-PATCH of one object. Errors are sorted into the two kinds the caller acts
on: ``TransientError`` (retry with backoff: network trouble, 5xx, 429 throttling, 409
conflicts) and ``PermanentError`` (4xx such as 403/404: say so once, retry only on news).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from kubetune_runner._env import ClusterConfig

GROUP_VERSION = "kubetune.dev/v1alpha1"
RETRIED_STATUSES = frozenset({409, 429})


class ApiError(Exception):
    pass


class TransientError(ApiError):
    pass


class PermanentError(ApiError):
    pass


class TrialClient:
    def __init__(self, config: ClusterConfig, request_timeout_seconds: float) -> None:
        self.config = config
        self.timeout = request_timeout_seconds
        self.url = (
            f"{config.api_url}/apis/{GROUP_VERSION}/namespaces/{config.namespace}"
            f"/trials/{config.trial}"
        )
        context = ssl.create_default_context(cafile=config.ca_path)
        # Never send the pod's token through an HTTP(S)_PROXY meant for the outside world.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        return self._call("GET", self.url, timeout=timeout)

    def patch_status(self, status: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"status": status}).encode("utf-8")
        return self._call("PATCH", self.url + "/status", body)

    def _call(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        try:
            with open(self.config.token_path, encoding="utf-8") as file:
                token = file.read().strip()
        except OSError as error:
            raise PermanentError(f"cannot read the service account token: {error}") from None
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/merge-patch+json")
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = _message(error)
            text = f"{method} {url} answered {error.code} {error.reason}{detail}"
            if error.code >= 500 or error.code in RETRIED_STATUSES:
                raise TransientError(text) from None
            raise PermanentError(text) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise TransientError(f"{method} {url} failed: {error}") from None


def _message(error: urllib.error.HTTPError) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, which says what RBAC refused."""
    try:
        message = json.loads(error.read()).get("message")
    except Exception:
        return ""
    return f": {message}" if message else ""
