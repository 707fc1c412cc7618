"""Fitting text into a number of cells: "…" marks what was cut."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def shorten_left(text: str, width: int) -> str:
    """`text` cut from the left to `width` characters (the end of a path matters most)."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


def cut_right(text: str, width: int, mark: str = "…") -> str:
    """`text` cut from the right to `width` characters, ending with `mark`."""
    return text if len(text) <= width else text[:width - len(mark)] + mark


class PathLabel(Widget):
    """One line, usually a path, cut from the left to whatever width the widget has when drawn."""

    DEFAULT_CSS = """
    PathLabel { height: 1; width: 1fr; }
    """
    text: reactive[str] = reactive("")

    def render(self) -> Text:
        return Text(shorten_left(self.text, max(1, self.content_size.width)), no_wrap=True)
