"""Is a run's training process still alive? Judged so that a reused pid is never taken for the run.

A run records in status.json the pid of its process together with that process's start time
(Linux: field 22 of /proc/<pid>/stat, clock ticks since boot; elsewhere psutil's create time
when psutil is installed), the boot id and the host, and holds an exclusive lock (flock) on its
events.jsonl for as long as it lives. A reader takes the run for alive only when a process with
that pid exists with the same start time in the same boot and the lock cannot be taken: a run
killed by SIGKILL or a power loss reads as "ended unexpectedly", never as "running". A run on
another host (a shared runs folder) is judged by its lock alone and never signalled from here.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import time
from pathlib import Path
from typing import Any, IO

from core.runs.rundir import RunDir, RunState

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: the pid and start time decide alone
    fcntl = None  # type: ignore[assignment]  # the module, or None where the platform has none

LOCK_WAIT_SECONDS = 2.0  # a reader holds the lock for an instant; a live run holds it for good
_PROC = Path("/proc/self/stat").exists()


class LockHeld(Exception):
    """Another live process holds the run's lock."""


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What tells a process apart from a later one given the same pid: {pid, pid_start, boot_id, host}."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "pid_start": process_start(pid), "boot_id": boot_id(), "host": socket.gethostname()}


def process_start(pid: int) -> int | float | None:
    """When process `pid` started (None: no such process, a zombie, or not knowable here)."""
    if _PROC:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except (OSError, ValueError):
            return None
        fields = stat[stat.rindex(b")") + 2:].split()  # the command name, in (), may hold spaces
        return None if fields[0] in (b"Z", b"X") else int(fields[19])  # state is field 3, starttime 22
    try:
        import psutil
    except ImportError:
        return None
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else round(process.create_time(), 2)
    except psutil.Error:
        return None


def boot_id() -> str | None:
    """This boot's id (Linux), so a start time from before a reboot never matches."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def same_process(status: dict[str, Any]) -> bool:
    """True when the process that wrote `status` (its pid, start time and boot) still exists on this host."""
    pid = status.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or _elsewhere(status):
        return False
    recorded_boot, current_boot = status.get("boot_id"), boot_id()
    if recorded_boot and current_boot and recorded_boot != current_boot:
        return False
    recorded, current = status.get("pid_start"), process_start(pid)
    if current is not None:
        return recorded is None or recorded == current  # None: written before start times were recorded
    if _PROC or recorded is not None and _psutil_available():
        return False  # the start time is knowable here and there is no such process
    return _pid_exists(pid)


def run_alive(status: dict[str, Any], run_dir: Path) -> bool:
    """True while the process that wrote the run's `status` is alive and holds the run's lock.

    A status without a start time was written before runs held the lock: its pid decides alone.
    """
    if not _elsewhere(status) and not same_process(status):
        return False
    return "pid_start" not in status or lock_free(RunDir(Path(run_dir)).events_path) is not True


def observed_state(status: dict[str, Any], run_dir: Path) -> str:
    """The run's state as status.json says, but ENDED_UNEXPECTEDLY for a running run whose process is gone."""
    state = str(status.get("state", "unknown"))
    if state == RunState.RUNNING and not run_alive(status, run_dir):
        return RunState.ENDED_UNEXPECTEDLY
    return RunState.of(state) or state


def hold_lock(handle: IO) -> None:
    """Take the run's lock on an open file for the life of the process (released by release_lock or exit).

    Raises LockHeld when another live process keeps it; on a file system without locks nothing is held.
    """
    if fcntl is None:
        return
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise LockHeld(handle.name) from None
            time.sleep(0.05)
        except OSError:
            return


def release_lock(handle: IO) -> None:
    """Release the lock for every copy of the file descriptor (forked data workers share it)."""
    if fcntl is None or handle.closed:
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass


def lock_free(path: Path) -> bool | None:
    """True when nobody holds the lock on `path`, False when a process does, None when it cannot be told."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released at once by closing
        return True
    except BlockingIOError:
        return False
    except OSError:
        return None
    finally:
        os.close(fd)


def _elsewhere(status: dict[str, Any]) -> bool:
    """True for a status written on another host: its pid means nothing here."""
    host = status.get("host")
    return bool(host) and host != socket.gethostname()


def _psutil_available() -> bool:
    return importlib.util.find_spec("psutil") is not None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
