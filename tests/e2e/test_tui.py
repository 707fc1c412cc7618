"""The TUI as a person uses it: `workbench` in a real terminal (tmux), keys in, screen text out."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
name: tui
data: {source: shapes, path: %s, image_size: [16, 16], shapes: {train_per_class: 8, val_per_class: 2, size: 16}}
model:
  layers: [flatten, {linear: {out_features: 32}}, relu, {linear: {out_features: auto}}]
"""


class Terminal:
    """A tmux session running one command, 100x30 unless told: the size is set before the command starts, so no
    resize arrives while a test types."""

    def __init__(self, name: str, command: str, cwd: Path, env: dict[str, str], size: tuple[int, int] = (100, 30)
                 ) -> None:
        self.name = name
        exports = " ".join(f"{key}={value}" for key, value in env.items())
        width, height = size
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), "-c", str(cwd),
                        f"env {exports} {command}; echo EXITED $?; sleep 30"], check=True)

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def press_and_wait_redraw(self, key: str, seconds: float = 30) -> None:
        """Press a key that changes the focus and wait until the screen shows it (its colours change): a key typed
        while the app still moves the focus goes to where the focus was (Textual routes keys as they arrive)."""
        before = self.styled_text()
        self.keys(key)
        deadline = time.monotonic() + seconds
        while self.styled_text() == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{key} changed nothing on screen:\n{self.text()}")
            time.sleep(0.1)

    def styled_text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", self.name], capture_output=True, text=True,
                              check=True).stdout

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                              check=True).stdout

    def wait_for(self, needle: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} not on screen:\n{self.text()}")

    def wait_for_line(self, pattern: str, seconds: float = 30) -> str:
        """Wait until a line of the screen matches a regular expression (a field's value among its neighbours')."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.text()
            if re.search(pattern, screen, re.MULTILINE):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"no line matches {pattern!r}:\n{self.text()}")

    def type_into_field(self, text: str, shown: str, tries: int = 10) -> str:
        """Clear the focused field and type `text` until a screen line matches `shown`: keys that arrive before the
        field has the focus go elsewhere, so a lost first character is typed again rather than waited out."""
        for _ in range(tries):
            self.keys("C-u", *text)
            try:
                return self.wait_for_line(shown, seconds=5)
            except AssertionError:
                continue
        raise AssertionError(f"{text!r} never showed in the field:\n{self.text()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture(params=[{}, {"NO_COLOR": "1"}], ids=["colour", "no-colour"])
def terminal(request, tmp_path: Path):
    config = tmp_path / "tui.yaml"
    config.write_text(CONFIG % (tmp_path / "shapes"))
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **request.param}
    term = Terminal(f"wb-{os.getpid()}-{len(request.param)}", f"{sys.executable} -m workbench {config}", tmp_path, env)
    yield term
    term.close()


def test_switch_screens_edit_a_layer_and_quit(terminal: Terminal) -> None:
    terminal.wait_for("1 Data")
    screens = (("2", "shapes fit"), ("3", "s Start"), ("4", "checkpoints (enter loads)"), ("5", "Follow"),
               ("1", "train/val"))
    for key, marker in screens:
        terminal.keys(key)
        terminal.wait_for(marker)
    terminal.keys("2")
    terminal.wait_for("shapes fit")
    terminal.keys("Down", "e")
    terminal.wait_for("linear: fully connected layer")  # the edit dialog's title, not the table's text
    terminal.type_into_field("100", r"in_features +100 ")
    terminal.keys("Enter")
    terminal.wait_for("in_features is 100")
    terminal.keys("f")
    terminal.wait_for("shapes fit")
    terminal.keys("q")
    terminal.wait_for("unsaved changes")
    terminal.keys("y")
    screen = terminal.wait_for("EXITED 0")
    assert "1 Data" not in screen, "the terminal was not restored after quitting"
