"""The Train screen in a real terminal (tmux) at 80x24 and 200x50: type into a field, Esc, `s` trains."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from test_tui import CONFIG, ROOT, Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(params=[(80, 24), (200, 50)], ids=["80x24", "200x50"])
def terminal(request, tmp_path: Path):
    config = tmp_path / "tui.yaml"
    config.write_text(CONFIG % (tmp_path / "shapes"))
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    width, height = request.param
    term = Terminal(f"wb-train-{os.getpid()}-{width}", f"{sys.executable} -m workbench {config}", tmp_path, env,
                    (width, height))
    yield term
    term.close()


def test_type_into_a_field_escape_and_s_starts_training(terminal: Terminal) -> None:
    terminal.wait_for("1 Data")
    terminal.keys("3")
    terminal.wait_for("ready: s trains")  # the screen has filled its form: typing before that is overwritten
    terminal.press_and_wait_redraw("Tab")  # the first field: epochs, its text selected
    terminal.keys("2")
    terminal.wait_for_line(r"^ 2 +64 ")  # typed into the field: epochs 2, batch size 64 beside it
    terminal.wait_for("ready: s trains tui for 5 epoch(s)")  # not yet applied
    terminal.keys("Escape")
    terminal.wait_for("ready: s trains tui for 2 epoch(s)")  # leaving the field applied it
    terminal.keys("s")
    screen = terminal.wait_for("finished: 2 epoch(s)", seconds=60)
    assert "★" in screen  # the best epoch, on the chart's axis or in the table
    terminal.keys("q")
    terminal.wait_for("Quit workbench?")
