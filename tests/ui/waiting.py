"""Waiting in Pilot tests for what workers and child processes do in their own time."""
from __future__ import annotations

import time
from typing import Callable

from textual.widgets import Input


async def wait_until(pilot, condition: Callable[[], bool], deadline: float = 90) -> None:
    """Let the app run until `condition()` holds; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.1)


async def settle(pilot, deadline: float = 90) -> None:
    """Let the app run until its workers are done and none has started since (a screen's workers start more)."""
    end = time.monotonic() + deadline
    quiet = 0
    while quiet < 2:
        assert time.monotonic() < end, "the app kept starting work"
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        quiet = quiet + 1 if all(worker.is_finished for worker in pilot.app.workers) else 0


async def field_focused(pilot, deadline: float = 30) -> None:
    """Wait until a text field has the focus: a dialog just pushed focuses its field once mounted, and keys pressed
    before then go to whatever had the focus (on a busy machine, the screen below)."""
    await wait_until(pilot, lambda: isinstance(pilot.app.focused, Input), deadline)
