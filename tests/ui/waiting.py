"""Waiting in Pilot tests for what workers and child processes do in their own time."""
from __future__ import annotations

import time
from typing import Callable


async def wait_until(pilot, condition: Callable[[], bool], deadline: float = 90) -> None:
    """Let the app run until `condition()` holds; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.1)
