"""The study journal's lock: one the kernel drops when its holder dies, and a torn last record cut off.

Optuna's own journal locks are lock files. One left by a worker killed while writing (a kill -9 at
an epoch's report) makes every other worker wait out a grace period, and forever when the
journal's path is relative: the lock is a symlink to that path, which dangles, and Optuna's check
of its age fails in a loop. flock(2) belongs to the open file, so the kernel releases it with the
process. A worker killed mid-write also leaves half a record at the journal's end; the next writer
would append to that line and leave the whole study unreadable. Its writer died before the write
returned, so it never happened: whoever takes the lock next cuts it off.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from optuna.storages.journal._file import BaseJournalFileLock  # the interface JournalFileBackend takes (not exported)

TAIL_CHUNK = 64 * 1024  # read back from the end in pieces this size to find the last whole record


class JournalLock(BaseJournalFileLock):
    """Optuna's journal lock on flock(2) of the journal file itself."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self._file: BinaryIO | None = None

    def acquire(self) -> bool:
        handle = open(self.journal, "r+b")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            cut_torn_record(handle)
        except BaseException:
            handle.close()
            raise
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def cut_torn_record(handle: BinaryIO) -> int:
    """Truncate the journal after its last newline; the bytes cut (0 when it ends with a whole record)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0 or handle.seek(size - 1) >= 0 and handle.read(1) == b"\n":
        return 0  # the usual case: the last writer finished
    end = size
    while end > 0:
        start = max(end - TAIL_CHUNK, 0)
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        handle.truncate(end)
        handle.flush()
        os.fsync(handle.fileno())
    return size - end
