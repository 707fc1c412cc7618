"""Telling someone a run ended: its outcome in words, a terminal notification, and the user's command.

A terminal notification is an OSC escape sequence (OSC 9, as iTerm2, WezTerm, Windows Terminal and
kitty read it, and OSC 777, as foot, Ghostty and VTE terminals do); it travels inside the output, so it
works over SSH. `notify.command` runs the user's program directly (never through a shell) with the
outcome in WORKBENCH_* environment variables, for a webhook or mail script.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.runs.liveness import observed_state
from core.runs.rundir import RunState
from core.train.events import Event, RunFailed, RunFinished

__all__ = ["RunOutcome", "run_notify_command", "terminal_notification"]

DIVERGED = "diverged"  # the one failure told apart: the loss went NaN or infinite
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # control characters would end or corrupt the escape sequence


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: state is finished, stopped, failed or diverged."""

    state: str
    name: str
    run_dir: str
    summary: str  # one line for people
    best_accuracy: float | None = None
    epochs: int | None = None
    seconds: float | None = None

    @classmethod
    def from_event(cls, event: Event, name: str) -> RunOutcome | None:
        """The outcome a run's last event tells; None for any other event."""
        if isinstance(event, RunFinished):
            accuracy = f", best val accuracy {event.best_val_accuracy:.1%}" if event.best_val_accuracy is not None else ""
            why = f" ({event.reason})" if event.reason else ""
            return cls(event.status, name, _absolute(event.run_dir),
                       f"{name} {event.status} after {event.epochs_done} epochs{accuracy}{why}",
                       event.best_val_accuracy, event.epochs_done, event.seconds)
        if isinstance(event, RunFailed):
            # the divergence guard's message (core/train/divergence.py) is the one failure named apart
            state = DIVERGED if "NaN or infinite" in event.error else RunState.FAILED
            return cls(state, name, _absolute(event.run_dir), f"{name} {state}: {event.error.splitlines()[0]}")
        return None

    @classmethod
    def from_status(cls, status: dict[str, Any], run_dir: Path) -> RunOutcome:
        """The outcome a run directory's status.json records (state as core.runs.liveness observes it)."""
        state = observed_state(status, run_dir)
        error = str(status.get("error") or "")
        if state == RunState.FAILED and "NaN or infinite" in error:
            state = DIVERGED
        accuracy = status.get("best_val_accuracy")
        detail = f": {error.splitlines()[0]}" if error else \
            f", best val accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else ""
        return cls(state, run_dir.name, str(run_dir), f"{run_dir.name} {state}{detail}",
                   accuracy if isinstance(accuracy, (int, float)) else None, status.get("epochs_done"))

    def environment(self) -> dict[str, str]:
        """The outcome as WORKBENCH_* variables; absent figures are empty strings."""
        def text(value: object) -> str:
            return "" if value is None else str(value)

        return {"WORKBENCH_RUN_STATE": self.state, "WORKBENCH_RUN_NAME": self.name,
                "WORKBENCH_RUN_DIR": self.run_dir, "WORKBENCH_RUN_SUMMARY": self.summary,
                "WORKBENCH_BEST_ACCURACY": text(self.best_accuracy), "WORKBENCH_EPOCHS": text(self.epochs),
                "WORKBENCH_SECONDS": text(None if self.seconds is None else round(self.seconds, 1))}


def _absolute(run_dir: str) -> str:
    """The run directory as a command run from anywhere can use it ('' when the run never made one)."""
    return str(Path(run_dir).absolute()) if run_dir else ""


def terminal_notification(title: str, body: str) -> str:
    """OSC 9 and OSC 777 desktop notifications; terminals that know neither ignore both."""
    title, body = _UNSAFE.sub(" ", title), _UNSAFE.sub(" ", body)
    return f"\x1b]9;{title}: {body}\x07\x1b]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}\x07"


def run_notify_command(command: Sequence[str], outcome: RunOutcome, timeout: float) -> str | None:
    """Run `command` (argv, no shell) with the outcome in its environment; why it failed, or None."""
    try:
        result = subprocess.run(list(command), env={**os.environ, **outcome.environment()}, shell=False,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return f"notify.command: {command[0]} not found"
    except PermissionError:
        return f"notify.command: {command[0]} is not executable"
    except subprocess.TimeoutExpired:
        return f"notify.command: {command[0]} took longer than {timeout:g} s and was stopped"
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip().splitlines()
        return f"notify.command: {command[0]} exited {result.returncode}" + (f": {error[-1]}" if error else "")
    return None
