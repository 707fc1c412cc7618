"""`torchrun -m workbench --run`: two gloo processes on the CPU train like one process with twice the batch;
`torchrun -m workbench cv`: every fold trained by both, the cross-validation written by the first alone."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
name: ddp
seed: 5
data:
  source: shapes
  path: {data}
  image_size: [16, 16]
  batch_size: {batch}
  shapes: {{train_per_class: 24, val_per_class: 8, size: 16}}
model:
  layers: [{{conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}}}, relu, {{maxpool2d: {{kernel_size: 2}}}}, flatten,
           {{linear: {{out_features: auto}}}}]
train: {{epochs: 2, device: cpu, optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}}}
"""


# a command that fails at once, with the process's last moments made visible: atexit, then teardown's __del__
ENDING = textwrap.dedent("""\
    import atexit, sys
    import core.train.distributed  # imported by every command that may join a process group
    from workbench.cli import main

    class SeenAtTeardown:
        def __del__(self):
            print("interpreter teardown", flush=True)

    kept = SeenAtTeardown()
    atexit.register(print, "atexit handlers ran", flush=True)
    sys.exit(main(["--run", "missing.yaml"]))
""")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def workbench(launcher: list[str], *args: str, cwd: Path) -> str:
    """The command's output on stdout, once it has exited 0."""
    result = subprocess.run([*launcher, "-m", "workbench", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def train(tmp_path: Path, name: str, batch: int, launcher: list[str]) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(CONFIG.format(data=tmp_path / "shapes", batch=batch))
    runs = tmp_path / name
    header = workbench(launcher, "train", str(config), "--runs-dir", str(runs), cwd=tmp_path).splitlines()[0]
    assert header.endswith(", 2 processes (gloo)") == (launcher == TORCHRUN), header
    [run] = runs.iterdir()  # rank 0 alone made a run directory
    return run


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state_dict"]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    one = train(tmp_path, "one", 16, [sys.executable])
    two = train(tmp_path, "two", 8, TORCHRUN)
    expected = weights(one)
    for key, value in weights(two).items():
        assert torch.allclose(value, expected[key], atol=1e-5), key
    started = json.loads((two / "events.jsonl").read_text().splitlines()[0])
    assert (started["world_size"], started["backend"]) == (2, "gloo")
    status = json.loads((two / "status.json").read_text())
    assert (status["world_size"], status["backend"]) == (2, "gloo")
    assert [row.split(",")[0] for row in (two / "metrics.csv").read_text().splitlines()[1:]] == ["1", "2"]


def test_a_distributed_run_resumes_under_torchrun(tmp_path: Path) -> None:
    run = train(tmp_path, "two", 8, TORCHRUN)
    workbench(TORCHRUN, "--resume", str(run), "--set", "train.epochs=3", cwd=tmp_path)
    assert [row.split(",")[0] for row in (run / "metrics.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["epochs_done"] == 3


@pytest.mark.parametrize("torchrun", [True, False])
def test_a_torchrun_process_ends_after_atexit_without_the_interpreters_teardown(tmp_path: Path, torchrun: bool) -> None:
    """gloo's process group outlives destroy_process_group under DDP, and tearing it down at exit aborted
    finished runs (SIGABRT) on a busy machine: a process torchrun started skips the teardown, nothing else."""
    mark = {"TORCHELASTIC_RUN_ID": "test"} if torchrun else {}
    result = subprocess.run([sys.executable, "-c", ENDING], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **mark})
    assert result.returncode == 2, result.stderr
    assert "missing.yaml" in result.stderr
    assert "atexit handlers ran" in result.stdout
    assert ("interpreter teardown" in result.stdout) is not torchrun


def test_cross_validation_trains_every_fold_on_both_ranks_and_rank_0_alone_reports(tmp_path: Path) -> None:
    config = tmp_path / "ddp.yaml"
    config.write_text(CONFIG.format(data=tmp_path / "shapes", batch=8))
    logs = tmp_path / "logs"
    launcher = [*TORCHRUN, "--log-dir", str(logs), "--redirects", "1"]  # each rank's stdout in a file of its own
    workbench(launcher, "cv", str(config), "--folds", "2", "--set", "train.epochs=1", cwd=tmp_path)
    [rank_0], [rank_1] = (list(logs.glob(f"*/attempt_0/{rank}/stdout.log")) for rank in (0, 1))
    assert rank_1.read_text() == ""
    printed = rank_0.read_text()
    assert "fold 1/2: accuracy" in printed and "fold 2/2: accuracy" in printed and "over 2 fold(s)" in printed

    [folder] = (tmp_path / "runs" / ".cv").iterdir()  # rank 0 alone made a cross-validation folder
    with (folder / "oof.csv").open() as file:
        rows = list(csv.DictReader(file))
    training_files = sorted(str(path) for path in (tmp_path / "shapes" / "train").rglob("*.png"))
    assert sorted(row["path"] for row in rows) == training_files  # every training file, exactly once
    summary = json.loads((folder / "cv.json").read_text())
    assert summary["complete"] and [fold["fold"] for fold in summary["per_fold"]] == [1, 2]
    for fold in summary["per_fold"]:
        run = tmp_path / fold["run_dir"]
        assert run.parent == folder and (run / "checkpoints" / "best.pt").is_file()
        status = json.loads((run / "status.json").read_text())
        assert (status["state"], status["world_size"], status["backend"]) == ("finished", 2, "gloo")
        started = json.loads((run / "events.jsonl").read_text().splitlines()[0])
        assert started["val_samples"] == fold["images"] == sum(row["fold"] == str(fold["fold"]) for row in rows)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        ["cv.json", "oof.csv", *(Path(fold["run_dir"]).name for fold in summary["per_fold"])])
