"""Headless runs tell their end: OSC 9 / OSC 777 in a terminal with --notify, and notify.command with the outcome."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import ROOT, workbench

pytestmark = pytest.mark.e2e

CONFIG = """\
name: notified
data: {{source: shapes, path: shapes, image_size: [8, 8], shapes: {{train_per_class: 8, val_per_class: 2, size: 8}}}}
model: {{layers: [flatten, {{linear: {{out_features: auto}}}}]}}
train: {{epochs: 1, device: cpu}}
notify: {{command: [{python}, -c, "{script}", env.json]}}
"""
SCRIPT = "import json, os, sys; json.dump({k: v for k, v in os.environ.items() if k.startswith('WORKBENCH_')}, open(sys.argv[1], 'w'))"


def run_in_pty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run workbench with its output on a pseudo-terminal; (exit status, everything it wrote)."""
    controller, terminal = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_notify_in_a_terminal_sends_osc_9_and_777_and_runs_the_command(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(CONFIG.format(python=sys.executable, script=SCRIPT))
    code, output = run_in_pty(["--run", "run.yaml", "--runs-dir", "runs", "--notify"], tmp_path)
    assert code == 0, output
    assert "\x1b]9;workbench: finished: notified finished after 1 epochs" in output
    assert "\x1b]777;notify;workbench: finished;notified finished after 1 epochs" in output
    [run_dir] = (tmp_path / "runs").iterdir()
    seen = json.loads((tmp_path / "env.json").read_text())
    assert seen["WORKBENCH_RUN_STATE"] == "finished" and seen["WORKBENCH_RUN_NAME"] == "notified"
    assert seen["WORKBENCH_RUN_DIR"] == str(run_dir) and seen["WORKBENCH_EPOCHS"] == "1"


def test_without_notify_or_a_terminal_no_escape_sequences_are_written(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(CONFIG.format(python=sys.executable, script=SCRIPT))
    piped = workbench("--run", "run.yaml", "--runs-dir", "runs", "--notify", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b]9;" not in piped.stdout and "\x1b]777;" not in piped.stdout
    assert json.loads((tmp_path / "env.json").read_text())["WORKBENCH_RUN_STATE"] == "finished"  # the command runs anyway
    code, output = run_in_pty(["--run", "run.yaml", "--runs-dir", "runs"], tmp_path)
    assert code == 0 and "\x1b]9;" not in output
