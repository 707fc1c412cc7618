"""Writing files so that a crash never leaves a half-written one: temp file, fsync, os.replace.

The temp file is created like any other file (mode 0666 less the umask), so a checkpoint or
status file gets the same permissions as the rest of the run. A write that fails for lack of
space raises `DiskFullError` and leaves the previous file as it was; other failures to write
become `WriteError`s that say what was refused and where (`write_error`). A command's output file
is checked first (`check_output`): never one of its inputs, an existing file only on request, never a
read-only one (a rename would replace it all the same).
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable

from core.errors import WorkbenchError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_TEMP_ATTEMPTS = 100


class WriteError(WorkbenchError):
    """A file or folder that cannot be written (read-only, missing, not a folder, ...)."""


class DiskFullError(WriteError):
    """No space left on the device; the file being replaced, if any, is kept as it was."""


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` through `write(file)` so readers see the old file or the new one, never a part."""
    path = Path(path)
    existed = path.exists()
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if _in_chain(exc, lambda e: isinstance(e, DiskFullError) or isinstance(e, OSError) and e.errno in NO_SPACE):
            kept = f": kept the previous {path.name}" if existed else f" writing {path.name}"
            raise DiskFullError(f"no space left on device{kept} (in {path.parent}, {_free_text(path.parent)})\n"
                                f"    hint: free some space on that device and run again") from exc
        if not isinstance(exc, KeyboardInterrupt) and _in_chain(exc, lambda e: isinstance(e, KeyboardInterrupt)):
            raise KeyboardInterrupt from exc  # torch.save turns a Ctrl-C inside its writes into a RuntimeError
        raise


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new temp file beside `path` to write (made like any file: 0666 less the umask); it replaces `path`
    when the block ends without an error, and is removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_output(output: Path, inputs: Sequence[Path | None], force: bool, option: str = "-o") -> None:
    """Refuse (WriteError) an output that is one of the command's inputs, an existing file unless `force`,
    and a read-only file always."""
    output = Path(output)
    for source in filter(None, inputs):
        if _same_file(output, Path(source)):
            raise WriteError(f"{option} {output} is the command's own input {source}: writing it would destroy what "
                             f"it reads\n    hint: write to another file")
    try:
        mode = output.stat().st_mode
    except OSError:
        return  # nothing there yet (or nothing that can be read): the write itself will say
    if stat.S_ISDIR(mode):
        raise WriteError(f"{option} {output}: that is a folder; give a file name, e.g. {output / 'model'}")
    if not mode & 0o222 or not os.access(output, os.W_OK):
        raise WriteError(f"{option} {output}: the file is read-only; it is not replaced\n"
                         f"    hint: write to another file, or make it writable first")
    if not force:
        raise WriteError(f"{option} {output}: the file exists\n    hint: add --force to replace it, or write to another file")


def _same_file(first: Path, second: Path) -> bool:
    """The same file on disk (a hard link or another spelling included) or the same path when one is missing."""
    try:
        return first.resolve() == second.resolve() or os.path.samefile(first, second)
    except OSError:
        return False


def atomic_write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented JSON."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2).encode() + b"\n"))


def _in_chain(exc: BaseException | None, test: Callable[[BaseException], bool]) -> bool:
    """True when `exc` or an error it was raised from or while handling passes `test`.

    torch.save reports a failed write as a RuntimeError raised while handling the write's own error.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if test(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def write_error(exc: OSError, path: Path, what: str) -> WriteError:
    """A clear error for an OSError met while writing `what` at `path` (a folder or a file)."""
    if exc.errno in NO_SPACE:
        return DiskFullError(f"no space left on device: cannot write {what} {path} ({_free_text(path)})\n"
                             f"    hint: free some space on that device, or choose another folder")
    return WriteError(f"cannot write {what} {path}: {write_problem(exc)}\n    hint: choose a folder you can write to")


def write_problem(exc: OSError) -> str:
    """Why a write failed, in words: 'the file system is read-only', 'permission denied', ..."""
    reasons = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ENOENT: "a folder on the way does not exist",
               errno.ENOTDIR: "a part of the path is a file, not a folder",
               errno.EEXIST: "it exists and is not a folder", errno.ENOSPC: "no space left on device",
               errno.EDQUOT: "no space left on device (disk quota)"}
    reason = reasons.get(exc.errno) if exc.errno is not None else None
    return reason or exc.strerror or str(exc)


def ensure_free_space(folder: Path, need: int, what: str) -> None:
    """Raise DiskFullError unless `folder`'s device has `need` bytes free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # not measurable here: the writes themselves will say
    if free < need:
        raise DiskFullError(f"no space left on device: {folder} has {format_bytes(free)} free and {what} "
                            f"needs about {format_bytes(need)}\n"
                            f"    hint: free some space on that device, or choose another folder")


def format_bytes(count: int) -> str:
    """12345 -> '12.1 KB'."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new hidden temp file beside `path`, created with 0666 so the umask applies (mkstemp gives 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMP_ATTEMPTS):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def _free_text(folder: Path) -> str:
    try:
        return f"{format_bytes(shutil.disk_usage(folder).free)} free"
    except OSError:
        return "free space unknown"
