"""What screens ask of each other, as messages through the app (never by calling another screen's methods).

A screen posts a request; it bubbles up to the app, which switches mode and passes the request on
to the screen that serves it (as a message that does not bubble back).
"""
from __future__ import annotations

from pathlib import Path

from textual.message import Message


class ClassifyWith(Message):
    """Open a model file on the Classify screen (posted by Runs, served by the app)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class UseModelFile(Message, bubble=False):
    """The app, to the Classify screen: load this model file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class FollowRun(Message):
    """Follow a running run directory live on the Train screen (posted by Runs, served by the app)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
