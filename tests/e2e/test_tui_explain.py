"""The Classify screen's heatmap in a real terminal (tmux): load a trained model, open images, h."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.test_classify_cli import CONFIG
from tests.e2e.test_cli import workbench
from tests.e2e.test_tui import ROOT, Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def test_h_overlays_the_heatmap_in_a_real_terminal(tmp_path: Path) -> None:
    (tmp_path / "cli.yaml").write_text(CONFIG)
    trained = workbench("--run", "cli.yaml", "--runs-dir", "runs", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    images = tmp_path / "shapes" / "val" / "star"
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    terminal = Terminal(f"wb-explain-{os.getpid()}", f"{sys.executable} -m workbench cli.yaml", tmp_path, env)
    try:
        terminal.wait_for("1 Data")
        terminal.keys("4")
        terminal.wait_for("classify-cli best")
        terminal.keys("Enter")
        terminal.wait_for("5 classes")
        terminal.keys("o")
        terminal.wait_for("Image file or folder")  # its field has the focus from its first frame
        terminal.keys(str(images))
        terminal.wait_for("val/star")  # typed into the field
        terminal.keys("Enter")
        terminal.wait_for("classified 8")
        terminal.keys("h")
        screen = terminal.wait_for("top 1); h: next class")
        assert "evidence for" in screen and "▀" in screen
        terminal.keys("q")
        terminal.wait_for("EXITED 0")
    finally:
        terminal.close()
