"""Writes a run's directory: makes it (`create_run`), then from its events events.jsonl, metrics.csv,
status.json and train.log."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from core.config import RunConfig, save_config
from core.errors import WorkbenchError
from core.files import WriteError, atomic_write_json, ensure_free_space, write_error
from core.runs.history import trained_seconds
from core.runs.liveness import LockHeld, hold_lock, process_identity, release_lock
from core.runs.rundir import METRICS_COLUMNS, CheckpointKind, RunDir, RunState
from core.train.describe import describe
from core.train.events import (BatchEnded, CheckpointSaved, DataProgress, EpochEnded, Event, RunFailed, RunFinished,
                               RunStarted)

RUN_FLOOR_BYTES = 4 * 2**20  # free space a new run needs before its checkpoints: config, status, logs, TensorBoard
CHECKPOINT_COPIES = 7  # weights' worth of bytes: best.pt, last.pt (weights + 2 optimizer slots) and its temp copy


def create_run(runs_root: Path, name: str, config: RunConfig | None = None) -> RunDir:
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
        run = RunDir(made)
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


class RunRecorder:
    """Writes every event of a run into its directory: events, metrics, status and log."""

    def __init__(self, run: RunDir, epochs: int, resumed_at: int | None = None) -> None:
        """`resumed_at`: the epochs a resumed run had completed; its status and metrics carry on from there."""
        self.run = run
        events: TextIO | None = None
        log: TextIO | None = None
        try:
            events = run.events_path.open("a", encoding="utf-8")
            log = run.log_path.open("a", encoding="utf-8")
            hold_lock(events)  # held while the run lives: see core/runs/liveness.py
        except (OSError, LockHeld) as exc:
            _close(events, log)
            if isinstance(exc, LockHeld):
                raise WorkbenchError(f"{run.path} is being written by another training process; "
                                     "wait for it to end or stop it first") from None
            raise write_error(exc, run.path, "the run directory") from exc
        self._events, self._log = events, log
        self._accuracy: dict[int, float] = {}  # val_accuracy by epoch, to record the best epoch's
        self._status: dict[str, Any] = {
            "state": RunState.RUNNING, **process_identity(), "started": _now(), "ended": None,
            "epochs": epochs, "epochs_done": 0, "best_epoch": None, "best_val_accuracy": None, "error": None,
            "reason": None,
        }
        if resumed_at is not None:
            self._carry_on(resumed_at)
        atomic_write_json(run.status_path, self._status)

    def _carry_on(self, epochs_done: int) -> None:
        """Keep the earlier status's start and best result, and drop metrics rows past the checkpoint."""
        try:
            before = self.run.read_status()
        except (OSError, ValueError):
            before = {}
        self._status.update({key: before[key] for key in ("started", "best_epoch", "best_val_accuracy") if key in before},
                            epochs_done=epochs_done, resumed=_now())
        earlier = trained_seconds(before, running=False)  # the Runs screen's time leaves the pause out
        if earlier is not None:
            self._status["earlier_seconds"] = round(earlier, 1)
        if self.run.metrics_path.exists():
            rows, whole = _metrics_rows(self.run.metrics_path)
            kept = [METRICS_COLUMNS] + [row for row in rows if _epoch(row) <= epochs_done]
            if kept != rows or not whole:
                with self.run.metrics_path.open("w", newline="") as handle:
                    csv.writer(handle).writerows(kept)

    def record(self, event: Event) -> None:
        """Write the event; a write that fails (a full disk) raises a WriteError."""
        if isinstance(event, RunFailed):
            self._record_failure(event)
            return
        try:
            self._record(event)
        except OSError as exc:
            raise write_error(exc, self.run.path, "the run directory") from exc

    def _record_failure(self, event: RunFailed) -> None:
        """Best effort, a full disk included: the failure itself propagates from fit whatever is written here."""
        self._status.update(state=event.state, ended=_now(), error=event.error)
        with contextlib.suppress(OSError):
            self._events.write(json.dumps(event.to_dict()) + "\n")
            self._events.flush()
        with contextlib.suppress(OSError):
            self.log(describe(event))
        try:
            atomic_write_json(self.run.status_path, self._status)
        except WriteError:  # no space for a new file: overwrite the old one in its own blocks
            with contextlib.suppress(OSError), self.run.status_path.open("r+b") as handle:
                handle.write(json.dumps(self._status, indent=2).encode() + b"\n")
                handle.truncate()

    def _record(self, event: Event) -> None:
        self._events.write(json.dumps(event.to_dict()) + "\n")
        self._events.flush()
        match event:
            case RunStarted():  # how many processes train it (torchrun), and over which torch.distributed backend
                self._update_status(world_size=event.world_size, backend=event.backend or None)
            case EpochEnded():
                self._accuracy[event.epoch] = event.val_accuracy
                self._append_metrics(event)
                self._update_status(epochs_done=event.epoch, epochs=event.epochs)  # under a budget, its plan
            case CheckpointSaved(kind=CheckpointKind.BEST):
                self._update_status(best_epoch=event.epoch, best_val_accuracy=self._accuracy.get(event.epoch))
            case RunFinished():
                self._update_status(state=event.status, ended=_now(), best_epoch=event.best_epoch,
                                    best_val_accuracy=event.best_val_accuracy, reason=event.reason or None)
        if _logged(event):
            self.log(describe(event))

    def log(self, text: str) -> None:
        self._log.write(f"{_now()} {text}\n")
        self._log.flush()

    def close(self) -> None:
        release_lock(self._events)
        _close(self._events, self._log)

    def _append_metrics(self, event: EpochEnded) -> None:
        new = not self.run.metrics_path.exists()
        with self.run.metrics_path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(METRICS_COLUMNS)
            writer.writerow([getattr(event, column) for column in METRICS_COLUMNS])

    def _update_status(self, **changes: Any) -> None:
        self._status.update(changes)
        atomic_write_json(self.run.status_path, self._status)


def _metrics_rows(path: Path) -> tuple[list[list[str]], bool]:
    """metrics.csv's rows as far as they read as CSV, and whether that was all of it: reading stops at a row that
    does not (NUL bytes, a field past csv's limit)."""
    rows: list[list[str]] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        try:
            rows.extend(csv.reader(handle))
        except csv.Error:
            return rows, False
    return rows, True


def _epoch(row: list[str]) -> float:
    """A metrics row's epoch; a row without one (the header, garbage) sorts past every epoch, so it is dropped."""
    try:
        return int(row[0])
    except (IndexError, ValueError):
        return math.inf


def check_space(run: RunDir, parameters: int) -> None:
    """Refuse to train (DiskFullError) when the run's device cannot hold its checkpoints and logs."""
    need = parameters * 4 * CHECKPOINT_COPIES + RUN_FLOOR_BYTES
    ensure_free_space(run.path, need, f"a run of this model ({parameters:,} parameters: checkpoints and logs)")


def _close(*handles: TextIO | None) -> None:
    for handle in handles:
        try:
            if handle is not None:
                handle.close()
        except OSError:
            pass  # a full disk: what could not be flushed is lost, the error was reported already


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _logged(event: Event) -> bool:
    """Whether train.log gets a line: not per batch (TensorBoard has every step), a data stage once it is done."""
    match event:
        case BatchEnded():
            return False
        case DataProgress(done=done, total=total):
            return done == total
    return True
