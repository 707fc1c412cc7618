"""The run directory: one folder per training run, written by the engine itself.

    runs/<YYYYmmdd-HHMMSS>-<name>/
      config.yaml      the resolved config        events.jsonl   one JSON event per line
      metrics.csv      one row per epoch          status.json    state, process, times, best
      tensorboard/     SummaryWriter output       checkpoints/   last.pt, best.pt
      train.log        human-readable log, tracebacks included
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.config import RunConfig, save_config
from core.files import WriteError, ensure_free_space, write_error



class RunState(StrEnum):
    """Where a run is in its life: status.json's `state`, and what every screen and command shows."""

    STARTING = "starting"  # launched from the app, its process has not made the run folder yet
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped by the user or early; last.pt kept, a resume continues it
    FAILED = "failed"
    ABORTED = "aborted"  # stopped at once by a second stop signal, nothing saved
    ENDED_UNEXPECTEDLY = "ended unexpectedly"  # status.json says running, but its process is gone

    @property
    def failed(self) -> bool:
        """Whether the run ended without a result of its own (a crash, an abort, a kill)."""
        return self in (RunState.FAILED, RunState.ABORTED, RunState.ENDED_UNEXPECTEDLY)


ABORTED = RunState.ABORTED  # also the RunFailed kind of an aborted run
RUN_FLOOR_BYTES = 4 * 2**20  # free space a new run needs before its checkpoints: config, status, logs, TensorBoard
METRICS_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_second", "data_wait"]


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's directory."""

    path: Path

    @classmethod
    def create(cls, runs_root: Path, name: str, config: RunConfig | None = None) -> "RunDir":
        """Make a new, uniquely named run directory (and write config.yaml when given).

        A runs folder that cannot be written (read-only, a file, nearly full) is a WriteError and
        leaves nothing behind.
        """
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            runs_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, runs_root, "the runs folder") from exc
        ensure_free_space(runs_root, RUN_FLOOR_BYTES, "a new run")
        made: Path | None = None
        try:
            for attempt in range(1, 1000):
                suffix = "" if attempt == 1 else f"-{attempt}"
                path = runs_root / f"{stamp}-{name}{suffix}"
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                made = path
                break
            else:
                raise WriteError(f"no free run directory name under {runs_root}")
            run = cls(made)
            run.checkpoints_dir.mkdir()
            if config is not None:
                save_config(config, run.config_path)
        except BaseException as exc:  # a Ctrl-C too: no half-made run directory is left
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
            if isinstance(exc, OSError):
                raise write_error(exc, runs_root, "the runs folder") from exc
            raise
        return run

    # The one list of the run directory's names: every reader and writer goes through these.
    CONFIG, EVENTS, METRICS, STATUS, LOG = "config.yaml", "events.jsonl", "metrics.csv", "status.json", "train.log"
    TENSORBOARD, CHECKPOINTS, EVALUATION, CONFUSION = "tensorboard", "checkpoints", "evaluation.json", "confusion.csv"
    CHECKPOINT_KINDS = ("best", "last")  # checkpoints/<kind>.pt, best first

    config_path = property(lambda self: self.path / self.CONFIG)
    events_path = property(lambda self: self.path / self.EVENTS)
    metrics_path = property(lambda self: self.path / self.METRICS)
    status_path = property(lambda self: self.path / self.STATUS)
    log_path = property(lambda self: self.path / self.LOG)
    tensorboard_dir = property(lambda self: self.path / self.TENSORBOARD)
    checkpoints_dir = property(lambda self: self.path / self.CHECKPOINTS)
    evaluation_path = property(lambda self: self.path / self.EVALUATION)

    def checkpoint_path(self, kind: str) -> Path:
        """checkpoints/best.pt or checkpoints/last.pt."""
        return self.checkpoints_dir / f"{kind}.pt"

    def checkpoints(self) -> list[Path]:
        """The run's best.pt and last.pt, those that exist, best first."""
        return [path for path in map(self.checkpoint_path, self.CHECKPOINT_KINDS) if path.is_file()]

    @property
    def is_run(self) -> bool:
        """Whether the folder is a run directory: it has a status.json (and is no symlink)."""
        return not self.path.is_symlink() and self.path.is_dir() and self.status_path.is_file()

    def read_status(self) -> dict[str, Any]:
        return json.loads(self.status_path.read_text())

    def read_events(self) -> list[dict[str, Any]]:
        with self.events_path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]
