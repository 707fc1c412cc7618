"""The machine while a run trains, from each epoch's event: CPU, memory, GPUs, and whether it waits for data."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.config import RunConfig
from core.train.data_wait import input_bound_advice
from core.train.events import EpochEnded
from core.train.system import SystemSample


class SystemPanel(Static):
    """One line of figures, and a second naming the keys to change when the loader is the bottleneck.

    Hidden until an epoch with figures ends, so an idle Train screen keeps its layout."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; max-height: 3; padding: 0 1; display: none; }
    """

    def show_epoch(self, event: EpochEnded, config: RunConfig) -> None:
        if not event.system:  # a run from before these figures were recorded
            return
        text = Text(f"{SystemSample.from_dict(event.system).summary()}  data wait {event.data_wait:.0%}", style="dim")
        advice = input_bound_advice(event.data_wait, config)
        if advice:
            text.append(f"\n{advice}", style="yellow")
        self.update(text)
        self.display = True

    def clear(self) -> None:
        self.update("")
        self.display = False
