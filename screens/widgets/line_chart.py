"""A line chart with axes in braille dots: x in epochs (or trials), a labelled y axis, a legend and a marked point.

Drawn with text only (2 x 4 dots per cell), so it reads over SSH and in an 80x24 terminal. Many
points per column (a loss reported every quarter second) are averaged into one; the points of a
sparse series (one per epoch) are drawn as `•` so the series tell apart without colour too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rich.text import Text
from textual.widget import Widget

from screens.widgets.braille import BrailleCanvas

TICK_STEPS = (1, 2, 5)  # x ticks every 1, 2, 5, 10, 20, 50, ... epochs, as many as fit


@dataclass
class Series:
    """One line: (x, y) points in x order; `dots` draws each point as a bullet (for a series per epoch)."""

    name: str
    points: list[tuple[float, float]] = field(default_factory=list)
    dots: bool = False


class LineChart(Widget):
    """Series over epochs 0..x_max with a y axis formatted by `fmt` (None: as short as keeps the labels
    apart); `mark` puts ★ on the x axis."""

    COMPONENT_CLASSES = {"line-chart--axis", "line-chart--title", "line-chart--mark", "line-chart--series-0",
                         "line-chart--series-1"}
    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 6; }
    LineChart > .line-chart--axis { color: $text-muted; }
    LineChart > .line-chart--title { text-style: bold; }
    LineChart > .line-chart--mark { color: $warning; text-style: bold; }
    LineChart > .line-chart--series-0 { color: $accent; }
    LineChart > .line-chart--series-1 { color: $success; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = ""
        self.series: list[Series] = []
        self.x_max = 1.0
        self.fmt: Callable[[float], str] | None = None
        self.mark: tuple[float, str] | None = None  # (x, what the legend says of it)
        self.hint = ""  # right-aligned in the title row, e.g. the key that switches the metric
        self.x_label = "epoch"

    def plot(self, title: str, series: Sequence[Series], x_max: float, fmt: Callable[[float], str] | None = None,
             mark: tuple[float, str] | None = None, hint: str = "", x_label: str = "epoch") -> None:
        self.title, self.series, self.x_max, self.fmt, self.mark, self.hint, self.x_label = (
            title, list(series), max(x_max, 1.0), fmt, mark, hint, x_label)
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size
        if width < 12 or height < 4:
            return Text(self.title)
        styles = {name: self.get_component_rich_style(f"line-chart--{name}", partial=True)
                  for name in ("axis", "title", "mark", "series-0", "series-1")}
        rows = height - 3  # title, the plot, the x axis and its labels
        low, high = _y_range([y for series in self.series for _, y in series.points])
        ticks = [0, (rows - 1) // 2, rows - 1] if rows >= 5 else [0, rows - 1]
        labels = dict(zip(ticks, self._labels([high - (high - low) * row / (rows - 1) for row in ticks])))
        gutter = max(*(len(label) for label in labels.values()), len(self.x_label)) + 1
        columns = width - gutter - 1
        canvas = BrailleCanvas(columns, rows)
        bullets: set[tuple[int, int]] = set()
        for number, series in enumerate(self.series):
            bullets |= _draw(canvas, series, self.x_max, low, high, number)
        lines = [self._title_line(width, styles)]
        for row in range(rows):
            line = Text(labels.get(row, "").rjust(gutter - 1) + " ", style=styles["axis"])
            line.append("┤" if row in labels else "│", style=styles["axis"])
            line.append_text(_row_text(canvas, row, bullets, [styles["series-0"], styles["series-1"]]))
            lines.append(line)
        if not any(series.points for series in self.series):
            lines[1 + rows // 2] = _overlay(lines[1 + rows // 2], "waiting for the first values", gutter + 1 + 2)
        lines.extend(self._x_axis(gutter, columns, styles))
        return Text("\n").join(lines)

    def _labels(self, values: list[float]) -> list[str]:
        """The y axis's labels: by `fmt`, or with as few significant digits as keep them apart."""
        if self.fmt is not None:
            return [self.fmt(value) for value in values]
        for digits in range(2, 7):
            labels = [f"{value:.{digits}g}" for value in values]
            if len(set(labels)) == len(labels):
                return labels
        return labels

    def _title_line(self, width: int, styles: dict) -> Text:
        line = Text(self.title, style=styles["title"])
        for number, series in enumerate(self.series):
            line.append("  ")
            line.append("•" if series.dots else "─", style=styles[f"series-{number % 2}"])
            line.append(f" {series.name}")
        if self.mark is not None:
            line.append("  ")
            line.append("★", style=styles["mark"])
            line.append(f" {self.mark[1]}")
        if self.hint and line.cell_len + len(self.hint) + 2 <= width:
            line.append(" " * (width - line.cell_len - len(self.hint)))
            line.append(self.hint, style=styles["axis"])
        line.truncate(width)
        return line

    def _x_axis(self, gutter: int, columns: int, styles: dict) -> list[Text]:
        """The axis line with ticks (and ★ at the marked x) and the epoch numbers under the ticks."""
        step = _tick_step(self.x_max, columns)
        axis = ["─"] * columns
        numbers = [" "] * (columns + 8)
        for value in range(0, int(self.x_max) + 1, step):
            column = _column(value, self.x_max, columns)
            axis[column] = "┬"
            label = str(value)
            start = min(max(column - len(label) // 2, 0), columns + 8 - len(label))
            numbers[start:start + len(label)] = label
        axis_line = Text(" " * gutter + "└", style=styles["axis"])
        mark = _column(self.mark[0], self.x_max, columns) if self.mark is not None else None
        for column, char in enumerate(axis):
            axis_line.append("★" if column == mark else char, style=styles["mark" if column == mark else "axis"])
        label_line = Text(self.x_label.rjust(gutter - 1) + "  " + "".join(numbers).rstrip(), style=styles["axis"])
        return [axis_line, label_line]


def _draw(canvas: BrailleCanvas, series: Series, x_max: float, low: float, high: float, number: int
          ) -> set[tuple[int, int]]:
    """Draw `series` as series `number`; the cells (row, column) of its points when it is drawn with bullets."""
    columns: dict[int, list[float]] = {}
    for x, y in series.points:
        if math.isfinite(y):
            columns.setdefault(round(min(max(x / x_max, 0.0), 1.0) * (canvas.width - 1)), []).append(y)
    dots = [(column, round((high - sum(ys) / len(ys)) / (high - low) * (canvas.height - 1)))
            for column, ys in sorted(columns.items())]
    for (x0, y0), (x1, y1) in zip(dots, dots[1:]):
        canvas.line(x0, y0, x1, y1, number)
    for x, y in dots:
        canvas.dot(x, y, number)
    return {(y // 4, x // 2) for x, y in dots} if series.dots else set()


def _row_text(canvas: BrailleCanvas, row: int, bullets: set[tuple[int, int]], styles: list) -> Text:
    """One row of the plot, each cell in the style of the series drawn last into it."""
    text = Text()
    for column in range(canvas.columns):
        owners = canvas.owners(row, column)
        if not owners:
            text.append(" ")
            continue
        char = "•" if (row, column) in bullets else canvas.char(row, column)
        text.append(char, style=styles[owners[-1] % len(styles)])
    return text


def _y_range(values: list[float]) -> tuple[float, float]:
    """The y axis's bottom and top: the values' range with a little room, never empty."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    room = (high - low) * 0.05 or abs(high) * 0.1 or 0.5
    return low - room if low - room >= 0 or low < 0 else 0.0, high + room


def _tick_step(x_max: float, columns: int) -> int:
    """Epochs between x ticks: the smallest 1, 2, 5, 10, ... whose labels have room (a label per 6 cells)."""
    scale = 1
    while True:
        for step in TICK_STEPS:
            if x_max / (step * scale) * 6 <= columns:
                return step * scale
        scale *= 10


def _column(x: float, x_max: float, columns: int) -> int:
    return round(min(max(x / x_max, 0.0), 1.0) * (columns * 2 - 1)) // 2


def _overlay(line: Text, message: str, start: int) -> Text:
    """`line` with `message` written over it from cell `start`."""
    plain = line.plain
    if start + len(message) > len(plain):
        return line
    result = line[:start]
    result.append(message)
    result.append_text(line[start + len(message):])
    return result
