"""The operator's calls to the Kubernetes API: JSON in, plain dicts out, one place.

It rides on the ``kubernetes`` package for configuration (kubeconfig or in-cluster service
account) and its thread-safe connection pool, but skips the generated models: objects stay
the dicts the API returned, which is what the pure ``trial_status`` and ``objects`` modules
take, and what the watch cache holds. Calls are synchronous; the controller runs them on
worker threads, many at once for bulk creation.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader

MERGE_PATCH = "application/merge-patch+json"
SERVICEACCOUNT_DIR = "KUBETUNE_SERVICEACCOUNT_DIR"
"""Where the pod's token and ca.crt are, when not /var/run/secrets/... (as for the runner)."""
ERROR_BODY_LIMIT = 300
"""Characters of an error response's body kept in an ``ApiError`` (and so in logs)."""
WATCH_CHUNK_BYTES = 65536
"""Bytes read from a watch stream at a time."""


READ_METHODS = frozenset({"GET"})
"""Requests a fenced ``Kube`` sends whatever the fence says; every other method writes."""


class NotLeading(RuntimeError):
    """A write refused by the fence: this replica no longer holds the leader Lease.

    A leader paused past its Lease (SIGSTOP, a frozen VM, a long GC) resumes in the middle of
    a reconcile planned on a stale cache; its writes would race the new leader's.
    """


def _always() -> bool:
    return True


RequestObserver = Callable[[str, str, float], None]
"""Told of every request but watches: method, path, seconds from sending to the parsed answer."""


def _ignore(method: str, path: str, seconds: float) -> None:
    pass


class ApiError(RuntimeError):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"{status} {reason}: {body[:ERROR_BODY_LIMIT]}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to log in; shared with kopf's login."""

    server: str
    ca_path: str | None
    verify: bool
    cert_path: str | None
    key_path: str | None
    token: str | None


def load_configuration(kubeconfig: str | None) -> kubernetes.client.Configuration:
    configuration = kubernetes.client.Configuration()
    if kubeconfig:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration
        )
        return configuration
    account_dir = os.environ.get(SERVICEACCOUNT_DIR)
    if account_dir:  # the test cluster's node agent mounts no volumes; it names the directory
        InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=os.path.join(account_dir, "token"),
            cert_filename=os.path.join(account_dir, "ca.crt"),
        ).load_and_set(configuration)
        return configuration
    try:
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    return configuration


def credentials_of(configuration: kubernetes.client.Configuration) -> Credentials:
    header = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    token = header.split(" ", 1)[-1] if header else None
    return Credentials(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        verify=bool(configuration.verify_ssl),
        cert_path=configuration.cert_file,
        key_path=configuration.key_file,
        token=token,
    )


class Kube:
    """Generic JSON REST calls by path, e.g. ``/apis/batch/v1/namespaces/ns/jobs``."""

    def __init__(
        self,
        configuration: kubernetes.client.Configuration,
        pool_size: int,
        timeout_seconds: float,
        observe: RequestObserver = _ignore,
    ) -> None:
        configuration.connection_pool_maxsize = pool_size
        self._api = kubernetes.client.ApiClient(configuration)
        self.timeout = timeout_seconds
        self._may_write: Callable[[], bool] = _always
        self._observe = observe

    def fenced(self, may_write: Callable[[], bool]) -> Kube:
        """A view on the same connections whose writes first ask ``may_write`` (the leader
        check), and raise ``NotLeading`` when it says no: the check sits right before each
        request, not once per reconcile, so a leader paused mid-reconcile cannot write."""
        view = copy.copy(self)
        view._may_write = may_write
        return view

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if method not in READ_METHODS and not self._may_write():
            raise NotLeading(f"{method} {path} refused: this replica no longer leads")
        started = time.perf_counter()
        try:
            return self._request(method, path, body, query, content_type)
        finally:
            self._observe(method, path, time.perf_counter() - started)

    def _request(
        self,
        method: str,
        path: str,
        body: Any,
        query: list[tuple[str, str]] | None,
        content_type: str,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        http_method, url, headers, body, _ = self._api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                http_method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
        except ApiException as error:  # connection-level failures
            raise ApiError(error.status or 0, error.reason or "", str(error.body or "")) from None
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            text = data.decode("utf-8", "replace") if data else ""
            raise ApiError(response.status, response.reason or "", text)
        return json.loads(data) if data else {}

    def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        try:
            return self.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(
        self, path: str, label_selector: str | None = None, field_selector: str | None = None
    ) -> dict[str, Any]:
        query = [("labelSelector", label_selector)] if label_selector else []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        return self.request("GET", path, query=query)

    def watch(
        self,
        path: str,
        label_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
    ) -> Iterator[dict[str, Any]]:
        """The events of one watch request from ``resource_version``, as the server sends
        them (bookmarks included), until it ends the request."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        _, url, headers, _, _ = self._api.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._api.rest_client.pool_manager.request(
            "GET",
            url,
            headers=headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=self.timeout, read=timeout_seconds + self.timeout),
        )
        try:
            if response.status != 200:
                text = response.read().decode("utf-8", "replace")
                raise ApiError(response.status, response.reason or "", text)
            buffer = b""
            for chunk in response.stream(WATCH_CHUNK_BYTES):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The created object, or None if one of that name exists already (409)."""
        try:
            return self.request("POST", path, body)
        except ApiError as error:
            if error.status == 409:
                return None
            raise

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A JSON merge patch; None if the object is gone."""
        try:
            return self.request("PATCH", path, body, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", path, body)

    def delete(self, path: str, propagation: str = "Background") -> bool:
        """True if deleted now, False if it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", path, body)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True
