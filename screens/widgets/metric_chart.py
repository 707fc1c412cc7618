"""One metric as a labelled one-line sparkline with its latest value: `val acc ▁▂▄▆█ 93.5%`."""
from __future__ import annotations

from typing import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

MAX_POINTS = 500  # older points are dropped; a sparkline is at most a few dozen cells wide


class MetricChart(Horizontal):
    """A metric's history; `append` a value or `set_values` a whole series."""

    DEFAULT_CSS = """
    MetricChart { height: 1; }
    MetricChart > .metric-label { width: 11; color: $text-muted; }
    MetricChart > Sparkline { width: 1fr; }
    MetricChart > .metric-value { width: 9; text-align: right; }
    """

    def __init__(self, label: str, fmt: Callable[[float], str] = "{:.4f}".format, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label, self.fmt = label, fmt
        self.values: list[float] = []

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="metric-label")
        yield Sparkline([])
        yield Label("-", classes="metric-value")

    def append(self, value: float) -> None:
        self.set_values([*self.values[-(MAX_POINTS - 1):], value])

    def set_values(self, values: Sequence[float]) -> None:
        self.values = list(values)[-MAX_POINTS:]
        self.query_one(Sparkline).data = self.values
        self.query_one(".metric-value", Label).update(self.fmt(self.values[-1]) if self.values else "-")
