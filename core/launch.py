"""Training runs as detached child processes: start one, find its run directory, follow its events, stop it.

The child is the headless command, `python -m workbench --run CONFIG --runs-dir DIR`, in a
session of its own, so closing the UI or losing the SSH connection does not end it; its
output goes to files beside its launch config (DIR/.launches/), never to the UI's terminal. Its run directory
is the new folder under DIR whose status.json carries the child's pid; events.jsonl there is
followed line by line. `attach` follows a run another process started: it is judged alive, and
signalled, only while its pid still names the process that wrote its status (core/liveness.py).
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
from typing import Any, AsyncIterator

from core.config import RunConfig, save_config
from core.errors import WorkbenchError
from core.events import Event, RunFailed, RunFinished, event_from_dict
from core.files import write_error
from core.liveness import ENDED_UNEXPECTEDLY, observed_state, run_alive, same_process
from core.runs import ABORTED

POLL_SECONDS = 0.25
ERROR_TAIL_CHARS = 4000


class LaunchError(WorkbenchError):
    """A run that cannot be started or followed."""


class StartError(LaunchError, OSError):
    """The runs folder cannot take a new launch; an OSError too, as it always was for callers of `start`."""


def signal_run(status: dict[str, Any], signum: int) -> bool:
    """Send `signum` to the process that wrote `status`, never to a later process given its pid; True if sent.

    Where the OS has pidfds the process is pinned first and checked again, so its pid cannot be
    reused between the check and the signal.
    """
    if not same_process(status):
        return False
    pid = status["pid"]
    if not hasattr(os, "pidfd_open"):
        try:
            os.kill(pid, signum)
            return True
        except OSError:
            return False
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if not same_process(status):
            return False
        signal.pidfd_send_signal(fd, signum)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class LaunchedRun:
    """One training run in another process, started here (`start`) or found running (`attach`)."""

    def __init__(self, pid: int, *, run_dir: Path | None = None, runs_dir: Path | None = None,
                 process: subprocess.Popen | None = None, stderr_path: Path | None = None,
                 known_dirs: frozenset[str] = frozenset(), status: dict[str, Any] | None = None) -> None:
        self.pid = pid
        self._status = status or {"pid": pid}  # the process as its status.json names it (pid, start time)
        self.run_dir = run_dir
        self.runs_dir = runs_dir
        self.stop_requested = False
        self._process = process
        self._stderr_path = stderr_path
        self._known_dirs = known_dirs
        self._offset = 0
        self._partial = b""
        self._outcome: str | None = None  # "finished" / "stopped" / "failed" / "aborted", from the run's own events
        self._failure: str | None = None

    @classmethod
    def start(cls, config: RunConfig, runs_dir: Path) -> "LaunchedRun":
        """Save `config` to a launch folder and start the headless runner on it, detached."""
        runs_dir = Path(runs_dir).resolve()
        launches = runs_dir / ".launches"  # hidden: not a run directory, kept for the child's output
        try:
            launches.mkdir(parents=True, exist_ok=True)
            launch_dir = Path(tempfile.mkdtemp(prefix="launch-", dir=launches))
            config_path = launch_dir / "config.yaml"
            save_config(config, config_path)
            known = frozenset(entry.name for entry in os.scandir(runs_dir))
            stderr_path = launch_dir / "stderr.log"
            with (launch_dir / "stdout.log").open("wb") as out, stderr_path.open("wb") as err:
                command = [sys.executable, "-m", "workbench", "--run", str(config_path), "--runs-dir", str(runs_dir)]
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                           start_new_session=True)
        except OSError as exc:
            raise StartError(str(write_error(exc, runs_dir, "the runs folder"))) from exc
        return cls(process.pid, runs_dir=runs_dir, process=process, stderr_path=stderr_path, known_dirs=known)

    @classmethod
    def attach(cls, run_dir: Path) -> "LaunchedRun":
        """Follow a run directory whose training process is still going (raises LaunchError if not)."""
        run_dir = Path(run_dir).resolve()
        try:
            status = json.loads((run_dir / "status.json").read_text())
        except (OSError, ValueError) as exc:
            raise LaunchError(f"{run_dir} has no readable status.json") from exc
        state = observed_state(status, run_dir)
        if state != "running":
            raise LaunchError(f"{run_dir.name} is not running (state: {state})")
        return cls(status["pid"], run_dir=run_dir, runs_dir=run_dir.parent, status=status)

    @property
    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        if self._outcome is not None:
            return False
        return run_alive(self._status, self.run_dir) if self.run_dir is not None else same_process(self._status)

    @property
    def returncode(self) -> int | None:
        """The child's exit status (None while it runs, or for an attached run)."""
        return self._process.poll() if self._process is not None else None

    @property
    def state(self) -> str:
        """starting, running, finished, stopped, failed, aborted, or "ended unexpectedly" (killed, no outcome)."""
        if self._outcome is not None:
            return self._outcome
        if self.is_running:
            return "running" if self.run_dir else "starting"
        return ENDED_UNEXPECTEDLY if self.run_dir is not None else "failed"

    @property
    def error_text(self) -> str | None:
        """Why the run failed: its own message, else the child's stderr, else its exit status."""
        if self._failure is not None:
            return self._failure
        if self.state in ("starting", "running", "finished", "stopped"):
            return None
        text = self._stderr_tail()
        if text:
            return text
        code = self.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else \
            f"exit status {code}" if code is not None else None
        return "the training process ended without finishing" + (f" ({how})" if how else "")

    def stop(self) -> None:
        """Ask the run to stop: it finishes the step, saves last.pt and exits (130). Sent once, and only to the run."""
        if self.stop_requested or not self.is_running:
            return
        self.stop_requested = True
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # our child: Popen never signals it once reaped
        else:
            signal_run(self._status, signal.SIGINT)

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
                self._outcome, self._failure = (ABORTED if event.kind == ABORTED else "failed"), event.error
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
