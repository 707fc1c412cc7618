"""Every write problem and every refused device is one clear message, exit 2, and nothing half-made.

These call the command's `main` in this process (fast); the full file systems are small tmpfs
mounts, skipped where mounting is not allowed.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from core.model.checkpoints import load_checkpoint
from tests.e2e.test_cli import CONFIG as CLI_CONFIG
from tests.mounts import fill, tmpfs
from workbench.cli import main

pytestmark = pytest.mark.e2e

CONFIG = CLI_CONFIG.replace("out_features: 32", "out_features: {hidden}")  # the hidden layer sets the model's size


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data") / "shapes"


def config(tmp_path: Path, data: Path, hidden: int = 16, epochs: int = 1) -> str:
    path = tmp_path / "disk.yaml"
    path.write_text(CONFIG.format(data=data, hidden=hidden, epochs=epochs))
    return str(path)


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def test_a_runs_dir_that_is_a_file(tmp_path, data, capsys):
    (tmp_path / "runs").write_text("not a folder")
    code, err = run(capsys, "--run", config(tmp_path, data), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and f"cannot write the runs folder {tmp_path / 'runs'}: it exists and is not a folder" in err
    code, err = run(capsys, "--run", config(tmp_path, data), "--runs-dir", str(tmp_path / "runs" / "inside"))
    assert code == 2 and "a part of the path is a file, not a folder" in err


def test_a_read_only_runs_folder(tmp_path, data, capsys):
    with tmpfs(tmp_path / "ro", size="1m", read_only=True) as read_only:
        code, err = run(capsys, "--run", config(tmp_path, data), "--runs-dir", str(read_only / "runs"))
        assert code == 2 and "the file system is read-only" in err and str(read_only / "runs") in err
        assert list(read_only.iterdir()) == []


def test_a_full_disk_is_refused_before_anything_is_made(tmp_path, data, capsys):
    with tmpfs(tmp_path / "small", size="2m") as small:
        code, err = run(capsys, "--run", config(tmp_path, data), "--runs-dir", str(small / "runs"))
        assert code == 2 and "no space left on device" in err and "a new run needs about 4 MB" in err
        assert list((small / "runs").iterdir()) == []


def test_a_disk_too_small_for_the_model_is_refused_before_training(tmp_path, data, capsys):
    with tmpfs(tmp_path / "small", size="8m") as small:  # 200k parameters: ~5 MB of checkpoints, plus logs
        code, err = run(capsys, "--run", config(tmp_path, data, hidden=256), "--runs-dir", str(small / "runs"))
        assert code == 2 and "no space left on device" in err and "(198,149 parameters" in err
        [run_dir] = (small / "runs").iterdir()
        assert list((run_dir / "checkpoints").iterdir()) == [] and not (run_dir / "metrics.csv").exists()
        assert '"state": "failed"' in (run_dir / "status.json").read_text()


def test_a_disk_that_fills_during_training_keeps_the_previous_checkpoint(tmp_path, data, capsys):
    with tmpfs(tmp_path / "small", size="16m") as small:
        runs = small / "runs"

        def fill_after_the_first_save() -> None:
            deadline = time.monotonic() + 60
            while len(list(runs.glob("*/checkpoints/[bl][ea]st.pt"))) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            fill(small, leave=128 * 1024)  # the next checkpoint (~1 MB) cannot fit

        filler = threading.Thread(target=fill_after_the_first_save)
        filler.start()
        code, err = run(capsys, "--run", config(tmp_path, data, hidden=128, epochs=10_000), "--runs-dir", str(runs))
        filler.join()
        assert code == 2, err
        assert "no space left on device: kept the previous " in err and "hint: free some space" in err
        [run_dir] = runs.iterdir()
        for name in ("last.pt", "best.pt"):
            assert load_checkpoint(run_dir / "checkpoints" / name)["epoch"] >= 1
        assert [path.name for path in (run_dir / "checkpoints").iterdir() if path.name.endswith(".tmp")] == []
        status = json.loads((run_dir / "status.json").read_text())  # written in place: no room for a new file
        assert status["state"] == "failed" and status["error"].startswith("no space left on device")


def test_export_code_into_a_missing_folder(tmp_path, data, capsys):
    target = tmp_path / "missing" / "net.py"
    code, err = run(capsys, "export-code", config(tmp_path, data), "-o", str(target))
    assert code == 2 and f"the folder {target.parent} does not exist" in err and "mkdir -p" in err
    assert not target.parent.exists()


def test_an_output_is_never_the_commands_input_and_replaces_a_file_only_with_force(tmp_path, data, capsys):
    path = Path(config(tmp_path, data))
    written = path.read_bytes()
    code, err = run(capsys, "export-code", str(path), "-o", str(path), "--force")
    assert code == 2 and "is the command's own input" in err and path.read_bytes() == written
    mine = tmp_path / "net.py"
    mine.write_text("mine")
    code, err = run(capsys, "export-code", str(path), "-o", str(mine))
    assert code == 2 and "add --force" in err and mine.read_text() == "mine"
    assert run(capsys, "export-code", str(path), "-o", str(mine), "--force")[0] == 0 and "class" in mine.read_text()
    assert run(capsys, "--run", str(path), "--runs-dir", str(tmp_path / "runs"))[0] == 0
    [run_dir] = (tmp_path / "runs").iterdir()
    best = run_dir / "checkpoints" / "best.pt"
    weights = best.read_bytes()
    code, err = run(capsys, "export", str(run_dir), "--format", "torchscript", "-o", str(best), "--force")
    assert code == 2 and "is the command's own input" in err and best.read_bytes() == weights


def test_a_read_only_folder_for_the_generated_demo_data(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", size="1m", read_only=True) as read_only:
        code, err = run(capsys, "--run", config(tmp_path, read_only / "shapes"), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    assert f"cannot generate the shapes demo data in {read_only / 'shapes'}: the file system is read-only" in err
    assert "--set data.path=" in err


@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.device_count() > 3, reason="this machine has cuda:3")
def test_a_device_the_machine_lacks_is_refused_before_the_run_folder(tmp_path, data, capsys):
    code, err = run(capsys, "--run", config(tmp_path, data), "--runs-dir", str(tmp_path / "runs"),
                    "--set", "train.device=cuda:3")
    assert code == 2 and "train.device 'cuda:3' does not exist here" in err and "--set train.device=cpu" in err
    assert not (tmp_path / "runs").exists()


def test_a_config_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    code, err = run(capsys, "--run", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "byte 0xe9 at byte offset 9" in err and f"{path}:1" in err
    assert not (tmp_path / "runs").exists()


def test_the_apps_launcher_says_why_a_runs_folder_cannot_take_a_run(tmp_path, data):
    from core.config import load_config
    from core.runs.launch import LaunchedRun, LaunchError

    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(LaunchError, match="cannot write the runs folder .*: a part of the path is a file") as error:
        LaunchedRun.start(load_config(config(tmp_path, data)), tmp_path / "runs")
    assert isinstance(error.value, OSError)  # what the Train screen catches
