"""A confusion matrix as a compact table: rows the true class, columns the predicted one, cells shaded by share."""
from __future__ import annotations

from rich.color import Color, blend_rgb
from rich.color_triplet import ColorTriplet
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from screens.widgets.fit import cut_right

LABEL_WIDTH = 10  # row labels: class names cut to this
EMPTY = ColorTriplet(40, 40, 40)
RIGHT = ColorTriplet(30, 140, 70)  # the diagonal, fully green when every image of the class is right
WRONG = ColorTriplet(190, 60, 50)  # elsewhere, red by the share of the row


class ConfusionMatrix(DataTable):
    """`show(classes, counts)`; column headers are short unique abbreviations of the class names.

    Cells have no padding: each starts with one blank cell as the gap, so ten classes with counts
    under 1000 fit in 52 columns. The class names stay in view when it scrolls sideways.
    """

    DEFAULT_CSS = """
    ConfusionMatrix { height: auto; max-height: 100%; padding-left: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="none", show_cursor=False, cell_padding=0,
                         fixed_columns=1)
        self.needed_width = 0  # columns the whole matrix takes

    def show(self, class_names: list[str], counts: list[list[int]]) -> None:
        self.clear(columns=True)
        width = max([3, *(len(str(count)) for row in counts for count in row)])
        self.needed_width = 1 + LABEL_WIDTH + 1 + len(class_names) * (width + 1)
        self.add_column(Text("true\\pred".ljust(LABEL_WIDTH + 1), style="dim"), key="true")
        for name, short in zip(class_names, abbreviate(class_names, width)):
            self.add_column(Text(short.rjust(width + 1)), key=name, width=width + 1)
        for name, row in zip(class_names, counts):
            total = sum(row) or 1
            cells = [shaded(count, count / total, column == name, width) for column, count in zip(class_names, row)]
            self.add_row(Text(cut_right(name, LABEL_WIDTH).ljust(LABEL_WIDTH + 1)), *cells, key=name)


def shaded(count: int, share: float, right: bool, width: int) -> Text:
    """A blank, then the count on a background from grey (none) to green (diagonal) or red (elsewhere) by its share
    of the row."""
    if count == 0:
        return Text(" " + "·".rjust(width), style="dim")
    colour = blend_rgb(EMPTY, RIGHT if right else WRONG, 0.25 + 0.75 * share)
    style = Style(color="white", bgcolor=Color.from_triplet(colour), bold=right)
    return Text.assemble(" ", (str(count).rjust(width), style))


def abbreviate(names: list[str], width: int) -> list[str]:
    """Names cut to `width` characters, kept unique (a clash keeps the start and ends with the name's index)."""
    short = [cut_right(name, width, mark="") for name in names]
    for index, name in enumerate(short):
        if short.count(name) > 1:
            suffix = str(index)
            short[index] = name[:max(1, width - len(suffix))] + suffix
    return short
