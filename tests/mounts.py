"""Tiny file systems for write-failure tests: a small tmpfs (to fill) or a read-only one.

Mounting needs root (or CAP_SYS_ADMIN); where it is refused the calling test is skipped, saying why.
"""
from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m", read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of `size` at `path` (made if needed) for the block; skip the test where that is refused."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); this test needs root")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}); this test needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill `folder`'s file system until about `leave` bytes are free."""
    free = shutil.disk_usage(folder).free
    try:
        with (folder / "filler").open("wb") as handle:
            handle.write(b"\0" * max(free - leave, 0))
    except OSError:
        pass  # full already
