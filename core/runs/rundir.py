"""The run directory: one folder per training run, written by the engine itself.

    runs/<YYYYmmdd-HHMMSS>-<name>/
      config.yaml      the resolved config        events.jsonl   one JSON event per line
      metrics.csv      one row per epoch          status.json    state, process, times, best
      tensorboard/     SummaryWriter output       checkpoints/   last.pt, best.pt
      train.log        human-readable log, tracebacks included
      evaluation.json, confusion.csv              the latest `workbench evaluate` of the run
      sweep.json       a sweep trial's study, number and sampled values

This module is the one place that spells these names and the run states, so it depends on
nothing but the standard library: every reader and writer, however light, can import it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

LAUNCHES = ".launches"  # under a runs folder: the app's launched processes; hidden, so never taken for a run
METRICS_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_second",
                   "data_wait"]


class RunState(StrEnum):
    """Where a run is in its life: status.json's `state`, and what every screen and command shows."""

    STARTING = "starting"  # launched from the app, its process has not made the run folder yet
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped by the user or early; last.pt kept, a resume continues it
    PRUNED = "pruned"  # a sweep trial its pruner stopped as hopeless; last.pt kept, like a stop
    FAILED = "failed"
    ABORTED = "aborted"  # stopped at once by a second stop signal, nothing saved
    ENDED_UNEXPECTEDLY = "ended unexpectedly"  # status.json says running, but its process is gone

    @classmethod
    def of(cls, text: str) -> RunState | None:
        """The state status.json names; None for one this version does not know (a newer workbench's)."""
        try:
            return cls(text)
        except ValueError:
            return None

    @property
    def failed(self) -> bool:
        """Whether the run ended without a result of its own (a crash, an abort, a kill)."""
        return self in (RunState.FAILED, RunState.ABORTED, RunState.ENDED_UNEXPECTEDLY)

    @property
    def ended_well(self) -> bool:
        """Whether the run ended by itself or on request (a user's, or a sweep's pruner), its checkpoints saved."""
        return self in (RunState.FINISHED, RunState.STOPPED, RunState.PRUNED)


class CheckpointKind(StrEnum):
    """A run's model files: checkpoints/<kind>.pt."""

    BEST = "best"  # the weights of the epoch with the best validation accuracy
    LAST = "last"  # the latest weights with everything a resume needs


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's directory."""

    path: Path

    # The one list of the run directory's names: every reader and writer goes through these.
    CONFIG, EVENTS, METRICS, STATUS, LOG = "config.yaml", "events.jsonl", "metrics.csv", "status.json", "train.log"
    TENSORBOARD, CHECKPOINTS, EVALUATION, CONFUSION = "tensorboard", "checkpoints", "evaluation.json", "confusion.csv"
    SWEEP = "sweep.json"  # a sweep trial's study, number and sampled values (core/sweep/trial.py)
    CHECKPOINT_KINDS = tuple(CheckpointKind)  # best first

    config_path = property(lambda self: self.path / self.CONFIG)
    events_path = property(lambda self: self.path / self.EVENTS)
    metrics_path = property(lambda self: self.path / self.METRICS)
    status_path = property(lambda self: self.path / self.STATUS)
    log_path = property(lambda self: self.path / self.LOG)
    tensorboard_dir = property(lambda self: self.path / self.TENSORBOARD)
    checkpoints_dir = property(lambda self: self.path / self.CHECKPOINTS)
    evaluation_path = property(lambda self: self.path / self.EVALUATION)
    confusion_path = property(lambda self: self.path / self.CONFUSION)
    sweep_path = property(lambda self: self.path / self.SWEEP)

    def checkpoint_path(self, kind: CheckpointKind | str) -> Path:
        """checkpoints/best.pt or checkpoints/last.pt."""
        return self.checkpoints_dir / f"{CheckpointKind(kind)}.pt"

    def checkpoints(self) -> list[Path]:
        """The run's best.pt and last.pt, those that exist, best first."""
        return [path for path in map(self.checkpoint_path, self.CHECKPOINT_KINDS) if path.is_file()]

    @property
    def is_run(self) -> bool:
        """Whether the folder is a run directory: it has a status.json (and is no symlink)."""
        return not self.path.is_symlink() and self.path.is_dir() and self.status_path.is_file()

    @property
    def looks_like_run(self) -> bool:
        """Whether the folder has a run's config.yaml and checkpoints/ (a copied run may lack its status.json)."""
        return self.config_path.is_file() and self.checkpoints_dir.is_dir()

    def read_status(self) -> dict[str, Any]:
        return json.loads(self.status_path.read_text())

    def read_events(self) -> list[dict[str, Any]]:
        with self.events_path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]


def run_dirs(runs_root: Path) -> list[RunDir]:
    """The run directories directly under a runs folder, newest first by their time-stamped names."""
    try:
        entries = [Path(entry.path) for entry in os.scandir(runs_root)
                   if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")]
    except OSError:
        return []
    return sorted((run for run in map(RunDir, entries) if run.is_run), key=lambda run: run.path.name, reverse=True)
