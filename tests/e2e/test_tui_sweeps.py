"""The Sweeps screen in a real terminal (tmux): start a sweep of the config being edited, see trials, stop it."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from core.sweep.launch import is_sweeping, stop_sweep
from core.sweep.study import StudyFolder
from tests.e2e.test_tui import CONFIG, ROOT, Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SWEEP = """\
train: {epochs: 15, device: cpu}
sweep:
  sampler: random
  pruner: none
  space:
    train.optimizer.lr: {log_uniform: [1.0e-3, 0.3]}
"""


def test_a_sweep_started_from_the_app_runs_detached_and_stops(tmp_path: Path) -> None:
    config = tmp_path / "tui.yaml"
    config.write_text(CONFIG % (tmp_path / "shapes") + SWEEP)
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    terminal = Terminal(f"wb-sweeps-{os.getpid()}", f"{sys.executable} -m workbench {config}", tmp_path, env)
    folder = StudyFolder.under(tmp_path / "runs", "tui")
    try:
        terminal.wait_for("6 Sweeps")
        terminal.keys("6")
        terminal.wait_for("no studies yet")
        terminal.keys("n")
        terminal.wait_for("sweeping", seconds=90)  # the detached command has the study
        terminal.wait_for("finished  ", seconds=90)  # and a trial in the table has finished
        terminal.keys("x")
        terminal.wait_for("stopping tui")
        deadline = time.monotonic() + 60
        while is_sweeping(folder):  # the trial under way ends like a stopped run, then the command exits
            assert time.monotonic() < deadline, "the sweep did not stop"
            time.sleep(0.2)
        terminal.keys("q")
        terminal.wait_for("EXITED 0")
    finally:
        stop_sweep(folder)
        terminal.close()
    assert "(stopped; the same command continues it)" in folder.log_path.read_text()
