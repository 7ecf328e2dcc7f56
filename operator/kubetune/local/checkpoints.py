"""Checkpoint directories of a local study: where each trial saves, what it starts from.

On a laptop a checkpoint is a directory, ``.kubetune/<study>/checkpoints/<trial>`` (the
trial's name, ``<study>-<index>``), created empty before the trial starts and handed to it as
``KUBETUNE_CHECKPOINT_DIR`` / ``${checkpointDir}``. A trial whose attributes name another
trial under ``RESTORE_ATTRIBUTE`` (PBT's next segment) also gets that trial's directory as
``KUBETUNE_RESTORE_FROM`` / ``${restoreFrom}`` — unless the other trial saved nothing or its
directory is gone: then it starts fresh, and the notice saying why goes into its log and its
status message. kubetune never copies checkpoint data; the trials read and write it.

Retention: once trials finish, the directories no later trial can restore from are deleted
(``Planner.checkpoints_needed``: the algorithm's say, plus the best trial's).
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubetune.api.attributes import RESTORE_ATTRIBUTE, AttributeValue

CHECKPOINTS_DIR = "checkpoints"
"""The folder of a study's state directory that holds one checkpoint directory per trial."""


@dataclass(frozen=True)
class Handoff:
    """One trial's checkpoint locations, as its environment and template get them."""

    checkpoint_dir: str
    """Where it saves (absolute: trials run in the study file's folder)."""
    restore_from: str | None = None
    """The checkpoint it starts from; None for a fresh start."""
    notice: str | None = None
    """Why a restore its attributes asked for was dropped; None when nothing was."""


class CheckpointDirs:
    """The checkpoint directories under one study's state directory."""

    def __init__(self, study_root: Path) -> None:
        self.root = study_root / CHECKPOINTS_DIR

    def path(self, trial: str) -> Path:
        return (self.root / trial).resolve()

    def prepare(self, trial: str, attributes: Mapping[str, AttributeValue]) -> Handoff:
        """An empty directory for ``trial`` (what an interrupted run of it saved is dropped:
        it runs again from the start) and the checkpoint it restores from, if usable."""
        own = self.path(trial)
        if own.exists():
            shutil.rmtree(own)
        own.mkdir(parents=True)
        source = attributes.get(RESTORE_ATTRIBUTE)
        if not isinstance(source, str) or not source:
            return Handoff(str(own))
        parent = self.path(source)
        if Path(source).name != source or not parent.is_dir():
            notice = (
                f"the checkpoint of trial {source} ({parent}) is gone, so {trial} starts "
                "fresh instead of continuing it; was it deleted by hand?"
            )
        elif not any(parent.iterdir()):
            notice = (
                f"trial {source} saved nothing in its checkpoint directory ({parent}), so "
                f"{trial} starts fresh instead of continuing it; save the training state "
                "into kubetune_runner.checkpoint_dir() (KUBETUNE_CHECKPOINT_DIR)"
            )
        else:
            return Handoff(str(own), str(parent))
        return Handoff(str(own), None, notice)

    def prune(self, keep: Collection[str]) -> list[str]:
        """Delete every trial's checkpoint directory but those of ``keep``; returns the
        trials whose directory went."""
        if not self.root.is_dir():
            return []
        removed = []
        for directory in sorted(self.root.iterdir()):
            if directory.is_dir() and directory.name not in keep:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory.name)
        return removed
