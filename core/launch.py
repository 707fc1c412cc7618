"""Training runs as detached child processes: start one, find its run directory, follow its events, stop it.

The child is the headless command, `python -m workbench --run CONFIG --runs-dir DIR`, in a
session of its own, so closing the UI or losing the SSH connection does not end it; its
output goes to files beside its launch config (DIR/.launches/), never to the UI's terminal. Its run directory
is the new folder under DIR whose status.json carries the child's pid; events.jsonl there is
followed line by line. `attach` follows a run another process started.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import AsyncIterator

from core.config import RunConfig, save_config
from core.errors import WorkbenchError
from core.events import Event, RunFailed, RunFinished, event_from_dict

POLL_SECONDS = 0.25
ERROR_TAIL_CHARS = 4000


class LaunchError(WorkbenchError):
    """A run that cannot be started or followed."""


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (and may be signalled by us)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LaunchedRun:
    """One training run in another process, started here (`start`) or found running (`attach`)."""

    def __init__(self, pid: int, *, run_dir: Path | None = None, runs_dir: Path | None = None,
                 process: subprocess.Popen | None = None, stderr_path: Path | None = None,
                 known_dirs: frozenset[str] = frozenset()) -> None:
        self.pid = pid
        self.run_dir = run_dir
        self.runs_dir = runs_dir
        self.stop_requested = False
        self._process = process
        self._stderr_path = stderr_path
        self._known_dirs = known_dirs
        self._offset = 0
        self._partial = b""
        self._outcome: str | None = None  # "finished" / "stopped" / "failed", from the run's own events
        self._failure: str | None = None

    @classmethod
    def start(cls, config: RunConfig, runs_dir: Path) -> "LaunchedRun":
        """Save `config` to a launch folder and start the headless runner on it, detached."""
        runs_dir = Path(runs_dir).resolve()
        runs_dir.mkdir(parents=True, exist_ok=True)
        launches = runs_dir / ".launches"  # hidden: not a run directory, kept for the child's output
        launches.mkdir(exist_ok=True)
        launch_dir = Path(tempfile.mkdtemp(prefix="launch-", dir=launches))
        config_path = launch_dir / "config.yaml"
        save_config(config, config_path)
        known = frozenset(entry.name for entry in os.scandir(runs_dir))
        command = [sys.executable, "-m", "workbench", "--run", str(config_path), "--runs-dir", str(runs_dir)]
        stderr_path = launch_dir / "stderr.log"
        with (launch_dir / "stdout.log").open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                       start_new_session=True)
        return cls(process.pid, runs_dir=runs_dir, process=process, stderr_path=stderr_path, known_dirs=known)

    @classmethod
    def attach(cls, run_dir: Path) -> "LaunchedRun":
        """Follow a run directory whose training process is still going (raises LaunchError if not)."""
        run_dir = Path(run_dir).resolve()
        try:
            status = json.loads((run_dir / "status.json").read_text())
        except (OSError, ValueError) as exc:
            raise LaunchError(f"{run_dir} has no readable status.json") from exc
        pid = status.get("pid")
        if status.get("state") != "running" or not isinstance(pid, int) or not pid_alive(pid):
            raise LaunchError(f"{run_dir.name} is not running (state: {status.get('state')})")
        return cls(pid, run_dir=run_dir, runs_dir=run_dir.parent)

    @property
    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return self._outcome is None and pid_alive(self.pid)

    @property
    def returncode(self) -> int | None:
        """The child's exit status (None while it runs, or for an attached run)."""
        return self._process.poll() if self._process is not None else None

    @property
    def state(self) -> str:
        """starting, running, finished, stopped or failed."""
        if self._outcome is not None:
            return self._outcome
        if self.is_running:
            return "running" if self.run_dir else "starting"
        return "failed"

    @property
    def error_text(self) -> str | None:
        """Why the run failed: its own message, else the child's stderr, else its exit status."""
        if self._failure is not None:
            return self._failure
        if self.state != "failed":
            return None
        text = self._stderr_tail()
        if text:
            return text
        code = self.returncode
        return f"the training process ended without finishing (exit status {code})" if code is not None \
            else "the training process ended without finishing"

    def stop(self) -> None:
        """Ask the run to stop: it finishes the step, saves last.pt and exits (130). Sent once."""
        if self.stop_requested or not self.is_running:
            return
        self.stop_requested = True
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def poll_events(self) -> list[Event]:
        """The events written since the last call (only complete lines)."""
        if self.run_dir is None:
            self.run_dir = self._find_run_dir()
            if self.run_dir is None:
                return []
        events = [event for event in map(self._parse, self._read_lines()) if event is not None]
        for event in events:
            if isinstance(event, RunFinished):
                self._outcome = event.status
            elif isinstance(event, RunFailed):
                self._outcome, self._failure = "failed", event.error
        return events

    async def follow(self, interval: float = POLL_SECONDS) -> AsyncIterator[Event]:
        """Every event until the process has ended and its last line is read."""
        while True:
            running = self.is_running
            for event in self.poll_events():
                yield event
            if not running:
                return
            await asyncio.sleep(interval)

    def _find_run_dir(self) -> Path | None:
        """The new folder under runs_dir whose status.json names our pid."""
        if self.runs_dir is None:
            return None
        for entry in os.scandir(self.runs_dir):
            if entry.name in self._known_dirs or not entry.is_dir():
                continue
            try:
                status = json.loads((Path(entry.path) / "status.json").read_text())
            except (OSError, ValueError):
                continue
            if status.get("pid") == self.pid:
                return Path(entry.path)
        return None

    def _read_lines(self) -> list[bytes]:
        try:
            with (self.run_dir / "events.jsonl").open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return [line for line in lines if line.strip()]

    @staticmethod
    def _parse(line: bytes) -> Event | None:
        try:
            return event_from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError):
            return None  # a line from a newer or older workbench: skip it

    def _stderr_tail(self) -> str:
        if self._stderr_path is None:
            return ""
        try:
            text = self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text.strip()[-ERROR_TAIL_CHARS:]
