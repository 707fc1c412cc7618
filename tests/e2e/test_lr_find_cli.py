"""`workbench lr-find` as a real process: the chart, the suggestion, the curve files, errors and Ctrl-C."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from tests.e2e.test_cli import ROOT, workbench, workbench_losing_a_ctrl_c, write_config

pytestmark = pytest.mark.e2e


def test_lr_find_prints_the_chart_and_suggestion_and_writes_the_curve(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = workbench("lr-find", str(config), "--steps", "30", "--runs-dir", "tmp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "└" in result.stdout and "lr (log scale)" in result.stdout and "suggested lr: " in result.stdout
    setting = result.stdout.split("--set ", 1)[1].split()[0]
    assert load_config(config, [setting]).train.optimizer.lr > 0
    curve = tmp_path / result.stdout.split("curve: ", 1)[1].strip()
    assert curve.parent.parent == tmp_path / "tmp" and curve.parent.name.endswith("-cli-lr-find")
    with curve.open() as handle:
        assert 1 <= len(list(csv.DictReader(handle))) <= 30
    assert curve.with_suffix(".json").exists()


def test_bad_steps_exit_2_naming_the_option(tmp_path: Path) -> None:
    result = workbench("lr-find", str(write_config(tmp_path)), "--steps", "5", cwd=tmp_path)
    assert result.returncode == 2 and "steps must be between 10 and 1000" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_exits_130_without_a_traceback(tmp_path: Path) -> None:
    args = ["lr-find", str(write_config(tmp_path)), "--steps", "1000", "--start-lr", "1e-7", "--end-lr", "1e-6",
            "--set", "data.image_size=[96, 96]"]  # a sweep of 15 s or more, so the signal comes before its end
    # Ctrl-C at its default, as a shell starts a command in the foreground: a suite started in the background
    # (`make test &`) ignores SIGINT, its children inherit that, and the sweep rightly ran to its end (exit 0)
    process = subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline().startswith("lr-find cli:")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    # 130, or ended by the SIGINT itself on a busy machine (which a shell also reports as 130)
    assert process.returncode in (130, -signal.SIGINT) and "Traceback" not in stderr and "interrupted" in stderr


def test_a_ctrl_c_whose_keyboardinterrupt_was_lost_still_ends_the_sweep(tmp_path: Path) -> None:
    result = workbench_losing_a_ctrl_c("core.prepare.lr_find", "lr-find", str(write_config(tmp_path)), "--steps", "30",
                                       cwd=tmp_path)
    assert result.returncode == 130 and result.stderr.strip() == "workbench: lr-find interrupted", result.stderr
    assert not (tmp_path / "runs").exists()
