"""core.files: atomic writes keep the umask's permissions, and a full disk keeps the previous file."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.model.checkpoints import save_checkpoint
from core.files import (DiskFullError, WriteError, atomic_write, atomic_write_json, check_output, ensure_free_space,
                        replacing, write_error)
from core.runs.recorder import create_run
from core.runs.recorder import RunRecorder
from tests.mounts import fill, tmpfs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_files_get_the_permissions_of_ordinary_files(tmp_path, umask):
    old = os.umask(umask)
    try:
        ordinary = tmp_path / "ordinary.txt"
        ordinary.write_text("x")
        atomic_write_json(tmp_path / "status.json", {"state": "running"})
        save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
        run = create_run(tmp_path / "runs", "perm")
        RunRecorder(run, 1).close()
    finally:
        os.umask(old)
    assert mode(ordinary) == 0o666 & ~umask
    assert mode(tmp_path / "status.json") == mode(tmp_path / "last.pt") == mode(run.status_path) == mode(ordinary)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"previous")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path):
    import torch

    with tmpfs(tmp_path / "small", size="1m") as small:
        last = small / "checkpoints" / "last.pt"
        save_checkpoint(last, {"weights": torch.zeros(1000)})
        fill(small, leave=64 * 1024)
        with pytest.raises(DiskFullError) as error:
            save_checkpoint(last, {"weights": torch.zeros(200_000)})  # 800 KB: does not fit
        message = str(error.value)
        assert message.startswith("no space left on device: kept the previous last.pt")
        assert str(last.parent) in message and "hint:" in message
        assert torch.load(last, weights_only=True)["weights"].shape == (1000,)
        assert [p.name for p in last.parent.iterdir()] == ["last.pt"]  # the temp file is gone

        (small / "filler").unlink()
        with pytest.raises(DiskFullError, match=r"has .* free and a new run needs about 4 MB"):
            ensure_free_space(small, 4 * 2**20, "a new run")


def test_write_errors_say_what_and_why(tmp_path):
    import errno

    assert "the file system is read-only" in str(write_error(OSError(errno.EROFS, "ro"), tmp_path, "the runs folder"))
    assert isinstance(write_error(OSError(errno.ENOSPC, "full"), tmp_path, "x"), DiskFullError)
    error = write_error(OSError(errno.EEXIST, "exists"), tmp_path / "runs", "the runs folder")
    assert type(error) is WriteError
    assert f"the runs folder {tmp_path / 'runs'}: it exists and is not a folder" in str(error)


def test_a_ctrl_c_inside_torch_save_stays_a_ctrl_c(tmp_path):
    import torch

    class Interrupted:
        """A file whose third write is hit by Ctrl-C; torch.save turns that into a RuntimeError."""

        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, data):
            self.writes += 1
            if self.writes == 3:
                raise KeyboardInterrupt
            return self.handle.write(data)

        def flush(self):
            self.handle.flush()

    path = tmp_path / "last.pt"
    path.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, lambda handle: torch.save({"weights": torch.zeros(1000)}, Interrupted(handle)))
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [b"previous"]


def test_an_output_is_never_an_input_nor_a_read_only_file_and_replaces_a_file_only_when_forced(tmp_path):
    checkpoint = tmp_path / "run" / "best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"weights")
    os.link(checkpoint, tmp_path / "linked.pt")
    for output in (checkpoint, tmp_path / "run" / ".." / "run" / "best.pt", tmp_path / "linked.pt"):
        with pytest.raises(WriteError, match="the command's own input"):
            check_output(output, [tmp_path / "run", checkpoint], force=True)
    existing = tmp_path / "model.ts"
    existing.write_bytes(b"old")
    with pytest.raises(WriteError, match="exists(?s:.*)add --force"):
        check_output(existing, [checkpoint], force=False)
    check_output(existing, [checkpoint], force=True)
    existing.chmod(0o444)
    with pytest.raises(WriteError, match="read-only"):
        check_output(existing, [checkpoint], force=True)
    check_output(tmp_path / "new.ts", [checkpoint], force=False)


def test_replacing_writes_a_file_with_the_umasks_permissions_or_leaves_the_old_one(tmp_path):
    path = tmp_path / "model.ts"
    path.write_bytes(b"old")
    old = os.umask(0o022)
    try:
        with pytest.raises(ValueError), replacing(path) as temp:
            temp.write_bytes(b"half")
            raise ValueError("the check failed")
        assert path.read_bytes() == b"old"
        with replacing(path) as temp:
            temp.write_bytes(b"new")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"new" and mode(path) == 0o644
    assert not list(tmp_path.glob(".*.tmp"))
