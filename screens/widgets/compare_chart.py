"""Curves of several runs overlaid in one chart: braille dots (2x4 per cell), one colour per run, axes labelled.

Where two runs' curves share a cell it is drawn in a third colour, so an overlap stays visible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from screens.widgets.braille import BrailleCanvas

SERIES_STYLES = ("bold cyan", "bold magenta", "bold yellow")
OVERLAP_STYLE = "bold white"
Y_LABEL_WIDTH = 8


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]  # one per epoch, from epoch 1


class CompareChart(Widget):
    """Series against epochs in one plot; `set_series` redraws."""

    DEFAULT_CSS = """
    CompareChart { height: 1fr; min-height: 5; }
    """

    def __init__(self, fmt: Callable[[float], str] = "{:.3g}".format, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fmt = fmt
        self.series: list[Series] = []
        self.title = ""

    def set_series(self, series: Sequence[Series], fmt: Callable[[float], str] | None = None, title: str = "") -> None:
        self.series = list(series)
        self.fmt = fmt or self.fmt
        self.title = title
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        return plot(self.series, width, height, self.fmt, self.title)


def plot(series: Sequence[Series], width: int, height: int, fmt: Callable[[float], str], title: str = "") -> Text:
    """The chart as text of `height` lines: a legend, the plot with y labels, the epoch axis."""
    legend = Text(f"{title}  " if title else "", style="bold")
    for index, one in enumerate(series):
        legend.append("━━ ", style=SERIES_STYLES[index % len(SERIES_STYLES)]).append(f"{one.name}  ")
    finite = [value for one in series for value in one.values if math.isfinite(value)]
    plot_width, plot_height = width - Y_LABEL_WIDTH - 1, height - 2
    if not finite or plot_width < 4 or plot_height < 1:
        return Text.assemble(legend, "\n", Text("no epochs to compare yet", style="dim"))
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    epochs = max(len(one.values) for one in series)
    canvas = BrailleCanvas(plot_width, plot_height)

    def dot(epoch_index: int, value: float) -> tuple[int, int]:
        return (round(epoch_index / max(epochs - 1, 1) * (canvas.width - 1)),
                round((high - value) / (high - low) * (canvas.height - 1)))

    for owner, one in enumerate(series):
        dots = [dot(i, v) for i, v in enumerate(one.values) if math.isfinite(v)]
        for (x0, y0), (x1, y1) in zip(dots, dots[1:]):
            canvas.line(x0, y0, x1, y1, owner)
        if len(dots) == 1:
            canvas.dot(*dots[0], owner)

    lines = [legend]
    labels = {0: fmt(high), plot_height - 1: fmt(low)}
    if plot_height >= 5:
        labels[(plot_height - 1) // 2] = fmt((high + low) / 2)
    for row in range(plot_height):
        label = f"{labels.get(row, ''):>{Y_LABEL_WIDTH}.{Y_LABEL_WIDTH}}"
        line = Text(label, style="dim").append("┤" if row in labels else "│", style="dim")
        for column in range(plot_width):
            owners = canvas.owners(row, column)
            style = SERIES_STYLES[owners[0] % len(SERIES_STYLES)] if len(owners) == 1 else OVERLAP_STYLE
            line.append(canvas.char(row, column), style=style if owners else "")
        lines.append(line)
    axis = f"{'epoch 1':<{plot_width - len(str(epochs))}}{epochs}" if plot_width > 10 else ""
    lines.append(Text(" " * (Y_LABEL_WIDTH + 1) + axis, style="dim"))
    return Text("\n").join(lines)
