"""`workbench sweep` as real processes: two workers on the journal file, a worker killed and the command rerun."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import CONFIG, ROOT, workbench

pytestmark = pytest.mark.e2e

SWEEP = """\
sweep:
  sampler: random
  pruner: none
  space:
    train.optimizer.lr: {log_uniform: [1.0e-3, 0.3]}
    data.batch_size: {choice: [16, 32]}
"""


def write_sweep(tmp_path: Path, epochs: int = 1, extra: str = "") -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "shapes", epochs=epochs) + SWEEP + extra)
    return path


def trial_runs(runs: Path) -> dict[int, dict]:
    """Each trial run directory's sweep.json by trial number; a number twice fails the test."""
    found: dict[int, dict] = {}
    for sweep in runs.glob("*/sweep.json"):
        record = json.loads(sweep.read_text())
        assert record["trial"] not in found, f"trial {record['trial']} ran twice"
        found[record["trial"]] = {**record, "status": json.loads((sweep.parent / "status.json").read_text())}
    return found


def test_two_workers_share_six_trials_without_losing_or_repeating_one(tmp_path: Path) -> None:
    result = workbench("sweep", str(write_sweep(tmp_path)), "--trials", "6", "--workers", "2", "--study", "pair",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("trial ")]
    assert sorted(int(line.split()[1]) for line in lines) == list(range(6))
    assert all(" finished " in line and "train.optimizer.lr=" in line for line in lines)
    assert "study pair: 6 of 6 trials finished" in result.stdout
    assert "workbench --run" in result.stdout and "--set data.batch_size=" in result.stdout
    runs = trial_runs(tmp_path / "runs")
    assert sorted(runs) == list(range(6)) and all(run["status"]["state"] == "finished" for run in runs.values())
    summary = json.loads((tmp_path / "runs" / ".sweeps" / "pair" / "trials.json").read_text())
    assert [trial["state"] for trial in summary["trials"]] == ["finished"] * 6


def test_a_worker_killed_mid_trial_is_failed_and_the_rerun_completes_the_study(tmp_path: Path) -> None:
    config = write_sweep(tmp_path, epochs=40)
    command = [sys.executable, "-m", "workbench", "sweep", str(config), "--trials", "2", "--study", "killed"]
    worker = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "runs").glob("*/metrics.csv")):  # mid-trial: its first epoch has ended
            assert worker.poll() is None and time.monotonic() < deadline, worker.stderr.read().decode()
            time.sleep(0.1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    result = workbench("sweep", str(config), "--trials", "2", "--study", "killed", "--set", "train.epochs=1",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "study killed: 2 of 2 trials finished" in result.stdout
    runs = trial_runs(tmp_path / "runs")
    assert runs[0]["status"]["state"] == "failed" and "ended without finishing it" in runs[0]["status"]["error"]
    assert [runs[n]["status"]["state"] for n in (1, 2)] == ["finished", "finished"]
    assert "trial 0  failed" in result.stdout


def test_a_bad_space_key_exits_2_naming_it_and_the_nearest_before_any_trial(tmp_path: Path) -> None:
    config = write_sweep(tmp_path, extra="    train.optimizer.lrr: {uniform: [0.1, 0.2]}\n")
    result = workbench("sweep", str(config), "--trials", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "sweep.space.train.optimizer.lrr" in result.stderr and "did you mean 'lr'?" in result.stderr
    assert not (tmp_path / "runs").exists()
