"""Start-up in a real terminal (tmux): keys typed before the first frame are kept, and without a UTF-8
locale every cell is ASCII and the app says how to fix it."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from test_tui import CONFIG, ROOT, Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def start(tmp_path: Path, name: str, env: dict[str, str], unset: str = "") -> Terminal:
    config = tmp_path / "tui.yaml"
    config.write_text(CONFIG % (tmp_path / "shapes"))
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **env}
    return Terminal(f"wb-start-{os.getpid()}-{name}", f"{unset}{sys.executable} -m workbench {config}", tmp_path, env,
                    size=(80, 24))


def test_a_key_typed_during_start_up_is_kept(tmp_path: Path) -> None:
    terminal = start(tmp_path, "keys", {"LANG": "C.UTF-8"})
    try:
        terminal.keys("5")  # before the app has drawn anything
        terminal.wait_for("m Mark", seconds=60)  # the Runs screen's footer: the app read the key
        terminal.keys("q")
        terminal.wait_for("EXITED 0")
    finally:
        terminal.close()


def test_without_a_utf8_locale_everything_is_ascii(tmp_path: Path) -> None:
    terminal = start(tmp_path, "ascii", {}, unset="env -u LANG -u LC_ALL -u LC_CTYPE ")
    try:
        terminal.wait_for("LANG=C.UTF-8", seconds=60)
        terminal.wait_for(" val, ")  # the data listed: borders, bars and the sample image drawn
        screen = terminal.text()
        assert "+- classes" in screen and screen.isascii(), screen
    finally:
        terminal.close()
