"""Writes a run's directory from its events: events.jsonl, metrics.csv, status.json and train.log."""

from __future__ import annotations

import contextlib
import csv
import json
from datetime import datetime
from typing import Any, TextIO

from core.errors import WorkbenchError
from core.files import WriteError, atomic_write_json, ensure_free_space, write_error
from core.runs.liveness import LockHeld, hold_lock, process_identity, release_lock
from core.runs.rundir import ABORTED, METRICS_COLUMNS, RUN_FLOOR_BYTES, RunDir
from core.train.events import (BatchEnded, CheckpointSaved, DataProgress, EpochEnded, Event, RunFailed, RunFinished,
                               RunResumed, RunStarted)

CHECKPOINT_COPIES = 7  # weights' worth of bytes: best.pt, last.pt (weights + 2 optimizer slots) and its temp copy


class RunRecorder:
    """Writes every event of a run into its directory: events, metrics, status and log."""

    def __init__(self, run: RunDir, epochs: int, resumed_at: int | None = None) -> None:
        """`resumed_at`: the epochs a resumed run had completed; its status and metrics carry on from there."""
        self.run = run
        self._events: TextIO | None = None
        self._log: TextIO | None = None
        try:
            self._events = run.events_path.open("a", encoding="utf-8")
            self._log = run.log_path.open("a", encoding="utf-8")
            hold_lock(self._events)  # held while the run lives: see core/runs/liveness.py
        except (OSError, LockHeld) as exc:
            self.close()
            if isinstance(exc, LockHeld):
                raise WorkbenchError(f"{run.path} is being written by another training process; "
                                     "wait for it to end or stop it first") from None
            raise write_error(exc, run.path, "the run directory") from exc
        self._accuracy: dict[int, float] = {}  # val_accuracy by epoch, to record the best epoch's
        self._status: dict[str, Any] = {
            "state": "running", **process_identity(), "started": _now(), "ended": None,
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
        if self.run.metrics_path.exists():
            with self.run.metrics_path.open(newline="") as handle:
                rows = list(csv.reader(handle))
            kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= epochs_done]
            if kept != rows:
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
        self._status.update(state=ABORTED if event.kind == ABORTED else "failed", ended=_now(), error=event.error)
        with contextlib.suppress(OSError):
            self._events.write(json.dumps(event.to_dict()) + "\n")
            self._events.flush()
        with contextlib.suppress(OSError):
            self.log(_describe(event))
        try:
            atomic_write_json(self.run.status_path, self._status)
        except WriteError:  # no space for a new file: overwrite the old one in its own blocks
            with contextlib.suppress(OSError), self.run.status_path.open("r+b") as handle:
                handle.write(json.dumps(self._status, indent=2).encode() + b"\n")
                handle.truncate()

    def _record(self, event: Event) -> None:
        self._events.write(json.dumps(event.to_dict()) + "\n")
        self._events.flush()
        if isinstance(event, EpochEnded):
            self._accuracy[event.epoch] = event.val_accuracy
            self._append_metrics(event)
            self._update_status(epochs_done=event.epoch)
        elif isinstance(event, CheckpointSaved) and event.kind == "best":
            self._update_status(best_epoch=event.epoch, best_val_accuracy=self._accuracy.get(event.epoch))
        elif isinstance(event, RunFinished):
            self._update_status(state=event.status, ended=_now(), best_epoch=event.best_epoch,
                                best_val_accuracy=event.best_val_accuracy, reason=event.reason or None)
        if not isinstance(event, BatchEnded) and (not isinstance(event, DataProgress) or event.done == event.total):
            self.log(_describe(event))

    def log(self, text: str) -> None:
        self._log.write(f"{_now()} {text}\n")
        self._log.flush()

    def close(self) -> None:
        if self._events is not None:
            release_lock(self._events)
        for handle in (self._events, self._log):
            try:
                if handle is not None:
                    handle.close()
            except OSError:
                pass  # a full disk: what could not be flushed is lost, the error was reported already

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


def check_space(run: RunDir, parameters: int) -> None:
    """Refuse to train (DiskFullError) when the run's device cannot hold its checkpoints and logs."""
    need = parameters * 4 * CHECKPOINT_COPIES + RUN_FLOOR_BYTES
    ensure_free_space(run.path, need, f"a run of this model ({parameters:,} parameters: checkpoints and logs)")


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _describe(event: Event) -> str:
    if isinstance(event, RunStarted):
        return (f"run started on {event.device}: {event.train_samples} training and {event.val_samples} "
                f"validation images, {len(event.classes)} classes, {event.parameters:,} parameters")
    if isinstance(event, EpochEnded):
        return (f"epoch {event.epoch}/{event.epochs} train_loss={event.train_loss:.4f} val_loss={event.val_loss:.4f} "
                f"val_accuracy={event.val_accuracy:.4f} lr={event.lr:g} {event.seconds:.1f}s "
                f"{event.samples_per_second:.0f} samples/s")
    if isinstance(event, DataProgress):
        return f"{event.stage}: {event.done:,} done"
    if isinstance(event, RunResumed):
        return f"run resumed after epoch {event.epoch}" + (f", batch {event.batch}" if event.batch else "")
    if isinstance(event, CheckpointSaved):
        return f"saved {event.kind} checkpoint {event.path} (epoch {event.epoch})"
    if isinstance(event, RunFinished):
        why = f" ({event.reason})" if event.reason else ""
        return f"run {event.status} after {event.epochs_done} epoch(s), {event.seconds:.1f}s{why}"
    if isinstance(event, RunFailed):
        return f"run failed ({event.kind}): {event.error}"
    return json.dumps(event.to_dict())
