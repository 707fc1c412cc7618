"""The row of screen names at the top; the current one highlighted, each one clickable.

The names and their keys come from the app's one list of modes (`App.MODES`, in order: key 1 first).
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


def mode_title(mode: str) -> str:
    """How a mode is named in the bar, the help and the palette: 'Data', 'Classify'."""
    return mode.title()


class NavBar(Horizontal):
    """`1 Data  2 Model  3 Train  4 Classify  5 Runs`, the active screen highlighted."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    NavBar > .nav-item { width: auto; padding: 0 1; color: $text-muted; }
    NavBar > .nav-item:hover { background: $boost; }
    NavBar > .nav-item.-active { background: $accent; color: $text; text-style: bold; }
    NavBar > #nav-title { width: 1fr; content-align: right middle; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, active: str, title: str = "") -> None:
        super().__init__()
        self.active = active
        self.title_text = title

    def compose(self) -> ComposeResult:
        for number, mode in enumerate(self.app.MODES, start=1):
            item = Static(f"{number} {mode_title(mode)}", classes="nav-item", id=f"nav-{mode}")
            item.set_class(mode == self.active, "-active")
            yield item
        yield Static(self.title_text, id="nav-title")

    def on_click(self, event) -> None:
        widget = event.widget
        if widget is not None and widget.id and widget.id.startswith("nav-") and widget.id != "nav-title":
            self.app.switch_mode(widget.id.removeprefix("nav-"))

    def set_title(self, text: str) -> None:
        self.query_one("#nav-title", Static).update(text)
