"""Training runs as detached child processes, in three parts: start one, locate its run directory, follow it.

- **start** (`Launch`): the child is the headless command, `python -m workbench --run CONFIG --runs-dir
  DIR`, in a session of its own, so closing the UI or losing the SSH connection does not end it; its
  config and output go to a folder of DIR/.launches/, never to the UI's terminal. Launch folders
  of ended processes are pruned at every start (the newest few kept for their error output), and
  a run that finished or stopped removes its own: its run directory has the log.
- **locate** (`locate_run_dir`): the run directory is the new folder under DIR whose status.json
  carries the child's pid.
- **follow** (`EventTail`): events.jsonl there, read line by line.

`LaunchedRun` puts the three together, and `attach` follows a run another process started: it is
judged alive, and signalled, only while its pid still names the process that wrote its status
(core/runs/liveness.py). `FollowedRun` is the app's one followed run.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator

from core.config import RunConfig, save_config
from core.errors import WorkbenchError
from core.train.events import Event, Extension, RunFailed, RunFinished, RunStarted, event_from_dict
from core.files import write_error
from core.runs.liveness import observed_state, process_identity, run_alive, same_process
from core.runs.rundir import LAUNCHES, RunDir, RunState

POLL_SECONDS = 0.25
ERROR_TAIL_CHARS = 4000
KEEP_LAUNCHES = 3  # launch folders of ended processes kept for their output (a failed start explains itself)
LAUNCH_GRACE_SECONDS = 60  # a launch folder without launch.json this young may be another app's, starting


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


class Launch:
    """start: the headless runner on a config, detached, with its files in a folder of runs/.launches/."""

    def __init__(self, process: subprocess.Popen, runs_dir: Path, folder: Path, known_dirs: frozenset[str]) -> None:
        self.process, self.runs_dir, self.folder, self.known_dirs = process, runs_dir, folder, known_dirs

    @classmethod
    def start(cls, config: RunConfig, runs_dir: Path, resume: Path | None = None,
              extension: Extension = Extension.FINAL_LR) -> "Launch":
        """Save `config` to a new launch folder and start the headless runner on it; StartError when impossible.

        With `resume` (a run directory) the runner continues that run instead (`--resume`), to
        config.train.epochs epochs in all, its schedule going on past its end as `extension` says."""
        runs_dir = Path(runs_dir).resolve()
        launches = runs_dir / LAUNCHES
        try:
            launches.mkdir(parents=True, exist_ok=True)
            prune_launches(runs_dir)
            folder = Path(tempfile.mkdtemp(prefix="launch-", dir=launches))
            config_path = folder / RunDir.CONFIG
            save_config(config, config_path)
            known = frozenset(entry.name for entry in os.scandir(runs_dir))
            with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
                command = [sys.executable, "-m", "workbench", "--run", str(config_path), "--runs-dir", str(runs_dir)]
                if resume is not None:
                    command[3:5] = ["--resume", str(resume), "--set", f"train.epochs={config.train.epochs}",
                                    "--extend", extension.value]
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                           start_new_session=True)
            (folder / "launch.json").write_text(json.dumps(process_identity(process.pid)))
        except OSError as exc:
            raise StartError(str(write_error(exc, runs_dir, "the runs folder"))) from exc
        return cls(process, runs_dir, folder, known)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGINT to our own child (Popen never signals one it has reaped)."""
        self.process.send_signal(signal.SIGINT)

    def stderr_tail(self) -> str:
        try:
            text = (self.folder / "stderr.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text.strip()[-ERROR_TAIL_CHARS:]

    def discard(self) -> None:
        """Remove the launch folder once the process has ended (its run directory has the log)."""
        if not self.is_running:
            shutil.rmtree(self.folder, ignore_errors=True)


def prune_launches(runs_dir: Path, keep: int = KEEP_LAUNCHES) -> list[Path]:
    """Remove the launch folders whose process has ended, all but the newest `keep`; the removed ones."""
    launches = Path(runs_dir) / LAUNCHES
    ended: list[tuple[float, Path]] = []
    try:
        entries = [Path(entry.path) for entry in os.scandir(launches)
                   if entry.name.startswith("launch-") and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    now = time.time()
    for folder in entries:
        try:
            modified = folder.stat().st_mtime
            identity = json.loads((folder / "launch.json").read_text())
        except FileNotFoundError:
            identity = None
        except (OSError, ValueError):
            continue
        if identity is None and now - modified < LAUNCH_GRACE_SECONDS:
            continue  # being started right now, perhaps by another app
        if identity is None or not same_process(identity):
            ended.append((modified, folder))
    removed = [folder for _, folder in sorted(ended, reverse=True)[keep:]]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def locate_run_dir(runs_dir: Path, pid: int, known: frozenset[str] = frozenset()) -> Path | None:
    """locate: the folder under runs_dir (not in `known`) whose status.json names process `pid`."""
    try:
        entries = list(os.scandir(runs_dir))
    except OSError:
        return None
    for entry in entries:
        if entry.name in known or entry.name.startswith(".") or not entry.is_dir():
            continue
        run = RunDir(Path(entry.path))
        try:
            status = json.loads(run.status_path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(status, dict) and status.get("pid") == pid:
            return run.path
    return None


class EventTail:
    """follow: a run's events.jsonl, read from where the last read ended (complete lines only)."""

    def __init__(self, run_dir: Path) -> None:
        self.run = RunDir(Path(run_dir))
        self._offset = 0
        self._partial = b""

    def read(self) -> list[Event]:
        """The events written since the last call."""
        try:
            with self.run.events_path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return [event for event in map(self._parse, lines) if event is not None]

    @staticmethod
    def _parse(line: bytes) -> Event | None:
        if not line.strip():
            return None
        try:
            return event_from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError):
            return None  # a line from a newer or older workbench: skip it


class LaunchedRun:
    """One training run in another process, started here (`start`) or found running (`attach`)."""

    def __init__(self, pid: int, *, run_dir: Path | None = None, runs_dir: Path | None = None,
                 launch: Launch | None = None, status: dict[str, Any] | None = None) -> None:
        self.pid = pid
        self._status = status or {"pid": pid}  # the process as its status.json names it (pid, start time)
        self.run_dir = run_dir
        self.runs_dir = runs_dir
        self.stop_requested = False
        self._launch = launch
        self._tail = EventTail(run_dir) if run_dir is not None else None
        self._outcome: RunState | None = None  # how the run ended, from its own events
        self._failure: str | None = None

    @classmethod
    def start(cls, config: RunConfig, runs_dir: Path, resume: Path | None = None,
              extension: Extension = Extension.FINAL_LR) -> "LaunchedRun":
        """Save `config` to a launch folder and start the headless runner on it, detached; with `resume`,
        continue that run directory (only the events written from now on are followed), its schedule
        going on past its end as `extension` says."""
        if resume is None:
            launch = Launch.start(config, runs_dir)
            return cls(launch.pid, runs_dir=launch.runs_dir, launch=launch)
        tail = EventTail(Path(resume).resolve())
        tail.read()  # the run's earlier events, read before the child can add any
        launch = Launch.start(config, runs_dir, resume=tail.run.path, extension=extension)
        run = cls(launch.pid, run_dir=tail.run.path, runs_dir=launch.runs_dir, launch=launch)
        run._tail = tail
        return run

    @classmethod
    def attach(cls, run_dir: Path) -> "LaunchedRun":
        """Follow a run directory whose training process is still going (raises LaunchError if not)."""
        run = RunDir(Path(run_dir).resolve())
        try:
            status = run.read_status()
        except (OSError, ValueError) as exc:
            raise LaunchError(f"{run.path} has no readable status.json") from exc
        state = observed_state(status, run.path)
        if state != RunState.RUNNING:
            raise LaunchError(f"{run.path.name} is not running (state: {state})")
        return cls(status["pid"], run_dir=run.path, runs_dir=run.path.parent, status=status)

    @property
    def is_running(self) -> bool:
        if self._launch is not None:
            return self._launch.is_running
        if self._outcome is not None:
            return False
        return run_alive(self._status, self.run_dir) if self.run_dir is not None else same_process(self._status)

    @property
    def returncode(self) -> int | None:
        """The child's exit status (None while it runs, or for an attached run)."""
        return self._launch.returncode if self._launch is not None else None

    @property
    def state(self) -> RunState:
        """Its outcome once its events say; ENDED_UNEXPECTEDLY when its process is gone without one."""
        if self._outcome is not None:
            return self._outcome
        if self.is_running:
            return RunState.RUNNING if self.run_dir else RunState.STARTING
        return RunState.ENDED_UNEXPECTEDLY if self.run_dir is not None else RunState.FAILED

    @property
    def error_text(self) -> str | None:
        """Why the run failed: its own message; a signal that killed it (its stderr may hold only warnings, such
        as an input-bound one); else the child's stderr, else its exit status."""
        if self._failure is not None:
            return self._failure
        if not self.state.failed:
            return None
        code = self.returncode
        text = self._launch.stderr_tail() if self._launch is not None else ""
        if text and not (code is not None and code < 0):
            return text
        how = f"killed by signal {-code}" if code is not None and code < 0 else \
            f"exit status {code}" if code is not None else None
        return "the training process ended without finishing" + (f" ({how})" if how else "")

    def stop(self) -> None:
        """Ask the run to stop: it finishes the step, saves last.pt and exits (130). Sent once, and only to the run."""
        if self.stop_requested or not self.is_running:
            return
        self.stop_requested = True
        if self._launch is not None:
            self._launch.stop()
        else:
            signal_run(self._status, signal.SIGINT)

    def poll_events(self) -> list[Event]:
        """The events written since the last call (only complete lines)."""
        if self._tail is None:
            self.run_dir = self._locate()
            if self.run_dir is None:
                return []
            self._tail = EventTail(self.run_dir)
        events = self._tail.read()
        for event in events:
            match event:
                case RunStarted():
                    self._outcome = self._failure = None  # a resumed run: an earlier ending is not its outcome
                case RunFinished():
                    self._outcome = RunState(event.status)
                case RunFailed():
                    self._outcome, self._failure = event.state, event.error
        if self._launch is not None and self._outcome is not None and self._outcome.ended_well:
            self._launch.discard()  # a clean ending needs no launch output; it does nothing while the child runs
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

    def _locate(self) -> Path | None:
        if self.runs_dir is None:
            return None
        known = self._launch.known_dirs if self._launch is not None else frozenset()
        return locate_run_dir(self.runs_dir, self.pid, known)


class FollowedRun:
    """The app's one followed training run: the one the Train screen started or the Runs screen attached.

    Screens read it and ask it to start or attach; nothing else holds a run the app follows.
    """

    def __init__(self) -> None:
        self.run: LaunchedRun | None = None

    @property
    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running

    def start(self, config: RunConfig, runs_dir: Path, resume: Path | None = None,
              extension: Extension = Extension.FINAL_LR) -> LaunchedRun:
        """Start training `config` (StartError when the runs folder cannot take it) and follow it; with `resume`,
        continue that run directory (`extension`: how its schedule goes on past its end)."""
        self.run = LaunchedRun.start(config, runs_dir, resume=resume, extension=extension)
        return self.run

    def attach(self, run_dir: Path) -> LaunchedRun:
        """Follow a running run directory (LaunchError when it is not running); the same run is kept."""
        current = self.run
        if current is not None and current.run_dir == Path(run_dir).resolve() and current.is_running:
            return current
        self.run = LaunchedRun.attach(run_dir)
        return self.run
