"""What the watches have shown: studies, trials, Jobs and pods, grouped by study.

The watches (``watch``) deliver events; this cache keeps the latest version of each object so that a
reconcile reads a study's whole world without a LIST call. It is a cache, never a source of
truth: it is filled from the API at start, every decision made from it is idempotent on the
API (deterministic names, merge patches), and verdicts that read reported metrics are
confirmed with a fresh GET. Versions only move forward: an event older than what is held
is ignored, whatever order the watches deliver in.
"""

from __future__ import annotations

import enum
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from kubetune.api.study import STUDY_LABEL

StudyKey = tuple[str, str]
"""(namespace, study name)."""


class Kind(enum.StrEnum):
    STUDY = "study"
    TRIAL = "trial"
    JOB = "job"
    POD = "pod"


class WatchEventType(enum.StrEnum):
    """The ``type`` of a watch event, as the API server sends it."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


def study_key(kind: Kind, obj: Mapping[str, Any]) -> StudyKey | None:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or ""
    if kind is Kind.STUDY:
        return namespace, metadata["name"]
    study = (metadata.get("labels") or {}).get(STUDY_LABEL)
    return (namespace, study) if study else None


def slim(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """The parts of an object the operator reads: a 10,000-trial cache must stay small.

    ``managedFields`` go everywhere; Jobs keep metadata and status (their spec is what the
    operator rendered), pods keep metadata, status and the node they are bound to.
    """
    metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    if kind is Kind.JOB:
        return {"metadata": metadata, "status": obj.get("status") or {}}
    if kind is Kind.POD:
        node = (obj.get("spec") or {}).get("nodeName")
        return {"metadata": metadata, "spec": {"nodeName": node}, "status": obj.get("status") or {}}
    return {**obj, "metadata": metadata}


def _version(obj: Mapping[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:  # opaque versions are allowed by the API; treat as always newer
        return 1 << 62


class ObjectCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Kind, dict[StudyKey, dict[str, dict[str, Any]]]] = {
            kind: defaultdict(dict) for kind in Kind
        }

    def apply(self, kind: Kind, event_type: str | None, obj: dict[str, Any]) -> StudyKey | None:
        """Record one watch event (or a created/patched object).

        Returns the study it concerns if it was news: a newer version or a deletion. The
        watch event of the operator's own write is not news (the write's response is
        already here), so it does not wake the study once more.
        """
        key = study_key(kind, obj)
        if key is None:
            return None
        name = obj["metadata"]["name"]
        obj = slim(kind, obj)
        with self._lock:
            group = self._objects[kind][key]
            if event_type == WatchEventType.DELETED:
                held = group.get(name)
                if held is not None and _version(held) <= _version(obj):
                    del group[name]
                    if not group:
                        del self._objects[kind][key]
                return key
            held = group.get(name)
            if held is not None and _version(held) >= _version(obj):
                return None
            group[name] = obj
        return key

    def forget(self, kind: Kind, key: StudyKey, name: str) -> None:
        """Drop an object the API said is gone (a 404), before its DELETED event arrives."""
        with self._lock:
            group = self._objects[kind].get(key)
            if group is not None:
                group.pop(name, None)

    def replace(
        self,
        kind: Kind,
        objects: Iterable[dict[str, Any]],
        list_version: int,
        namespace: str | None = None,
    ) -> None:
        """Adopt a full LIST (of one namespace, or all): add what is newer, drop what is gone."""
        listed: dict[StudyKey, dict[str, dict[str, Any]]] = defaultdict(dict)
        for obj in objects:
            key = study_key(kind, obj)
            if key is not None:
                listed[key][obj["metadata"]["name"]] = slim(kind, obj)
        with self._lock:
            held = self._objects[kind]
            for key in set(held) | set(listed):
                if namespace is not None and key[0] != namespace:
                    continue
                group = held[key]
                for name, obj in listed.get(key, {}).items():
                    old = group.get(name)
                    if old is None or _version(old) <= _version(obj):
                        group[name] = obj
                for name in [n for n in group if n not in listed.get(key, {})]:
                    if _version(group[name]) <= list_version:
                        del group[name]
                if not group:
                    del held[key]

    def get(self, kind: Kind, key: StudyKey) -> dict[str, dict[str, Any]]:
        """A copy of the study's objects of one kind, by name."""
        with self._lock:
            return dict(self._objects[kind].get(key, {}))

    def study(self, key: StudyKey) -> dict[str, Any] | None:
        with self._lock:
            return self._objects[Kind.STUDY].get(key, {}).get(key[1])

    def study_keys(self) -> list[StudyKey]:
        with self._lock:
            return list(self._objects[Kind.STUDY])

    def size(self, kind: Kind) -> int:
        with self._lock:
            return sum(len(group) for group in self._objects[kind].values())
