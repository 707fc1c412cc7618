"""The runs under a runs folder, read back from their directories: states, metrics and checkpoints."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.liveness import observed_state


@dataclass(frozen=True)
class RunSummary:
    """One run directory as its status.json and metrics.csv describe it."""

    path: Path
    state: str  # running, finished, stopped, failed, aborted, or "ended unexpectedly" (killed: status says running)
    epochs: int | None
    epochs_done: int
    best_val_accuracy: float | None
    started: str
    error: str | None

    @property
    def name(self) -> str:
        return self.path.name


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run directory (one with a status.json) under runs_dir, newest first."""
    try:
        entries = [Path(entry.path) for entry in os.scandir(runs_dir) if entry.is_dir()]
    except OSError:
        return []
    summaries = [summary for summary in map(read_summary, entries) if summary is not None]
    return sorted(summaries, key=lambda summary: (summary.started, summary.name), reverse=True)


def read_summary(run_dir: Path) -> RunSummary | None:
    """A run's summary, or None when the folder is not a run directory."""
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return None
    state = observed_state(status, run_dir)
    best = status.get("best_val_accuracy")
    if best is None:
        best = max((row["val_accuracy"] for row in read_metrics(run_dir) if "val_accuracy" in row), default=None)
    return RunSummary(path=run_dir, state=state, epochs=status.get("epochs"),
                      epochs_done=int(status.get("epochs_done") or 0), best_val_accuracy=best,
                      started=str(status.get("started") or ""), error=status.get("error"))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as one dict of numbers per epoch (empty when missing; bad cells are left out)."""
    try:
        with (run_dir / "metrics.csv").open(newline="") as handle:
            return [_numbers(row) for row in csv.DictReader(handle)]
    except OSError:
        return []


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The run's best.pt and last.pt, those that exist."""
    return [path for path in (run_dir / "checkpoints" / "best.pt", run_dir / "checkpoints" / "last.pt")
            if path.is_file()]


def list_checkpoints(runs_dir: Path) -> list[Path]:
    """Every run's best.pt and last.pt under runs_dir, most recently written first."""
    paths = [path for summary in list_runs(runs_dir) for path in checkpoint_paths(summary.path)]
    return sorted(paths, key=_mtime, reverse=True)


def _numbers(row: dict[str, str]) -> dict[str, float]:
    numbers = {}
    for key, text in row.items():
        try:
            numbers[key] = float(text)
        except (TypeError, ValueError):
            continue
    return numbers


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
