"""The help screen (?): what workbench does and the keys of every screen."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

INTRO = """\
# workbench

Keys **1-5** switch screens: **1** Data, **2** Model, **3** Train, **4** Classify, **5** Runs.
**ctrl+p** opens the command palette (every action of the current screen is there),
**?** this help, **q** quits (asking first when something is unsaved or running).
"""


class HelpScreen(ModalScreen[None]):
    """Keys of every screen, generated from their bindings."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(INTRO + "\n".join(self._screen_sections()))

    def _screen_sections(self) -> list[str]:
        sections = []
        for mode, screen_class in self.app.MODES.items():
            rows = [f"| {b.key_display or b.key} | {b.description} |" for b in _bindings(screen_class) if b.description]
            doc = (screen_class.__doc__ or "").strip().splitlines()[0] if screen_class.__doc__ else ""
            sections.append(f"\n## {mode.title()}\n\n{doc}\n\n| key | action |\n|---|---|\n" + "\n".join(rows))
        return sections


def _bindings(screen_class: type) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in getattr(screen_class, "BINDINGS", [])]
