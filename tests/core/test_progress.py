"""The headless commands' progress bar: drawn on a terminal's stderr, absent from pipes and logs."""
from __future__ import annotations

import io
import sys

import pytest

from workbench.progress import reporting


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with reporting("evaluating") as report:
        assert report is None
    assert capsys.readouterr() == ("", "")


def test_a_bar_on_a_terminal_shows_the_work_done(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with reporting("evaluating") as report:
        assert report is not None
        report(3, 10)
    assert "evaluating" in terminal.getvalue() and "3/10" in terminal.getvalue()
