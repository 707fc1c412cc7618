"""The help screen (?): what workbench does and the keys of every screen."""
from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from screens.base import AppBase
from screens.widgets.navbar import mode_title

INTRO = """\
# workbench

Keys {keys}.
**ctrl+p** opens the command palette (every action of the current screen is there, by name),
**?** this help, **ctrl+s** saves the config, **q** quits (asking first when something is unsaved or running).
In a field, **enter** applies it and **esc** leaves it; the screen's keys work again at once.
The footer shows each screen's main keys; the rest are listed here.
"""


class HelpScreen(ModalScreen[None]):
    """Keys of every screen, generated from their bindings."""

    app = getters.app(AppBase)

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            keys = ", ".join(f"**{number}** {mode_title(mode)}" for number, mode in enumerate(self.app.MODES, start=1))
            yield Markdown(INTRO.format(keys=f"**1-{len(self.app.MODES)}** switch screens: {keys}")
                           + "\n".join(self._screen_sections()))

    def _screen_sections(self) -> list[str]:
        sections = []
        for mode, screen_class in self.app.screen_classes().items():
            rows = [f"| {b.key_display or b.key} | {b.description}{f': {b.tooltip}' if b.tooltip else ''} |"
                    for b in _bindings(screen_class) if b.description]
            doc = (screen_class.__doc__ or "").strip().splitlines()[0] if screen_class.__doc__ else ""
            sections.append(f"\n## {mode_title(mode)}\n\n{doc}\n\n| key | action |\n|---|---|\n" + "\n".join(rows))
        return sections


def _bindings(screen_class: object) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in getattr(screen_class, "BINDINGS", [])]
