"""The key footer, rebuilt once for all the changes to the bindings since the last rebuild."""
from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer, rebuilt on the next idle however many times the bindings changed before it.

    Textual's own queues one rebuild (every key mounted again) for each change: a focus change, a screen resumed,
    a worker's state; a screen's first visit made up to 15 of them in a row.
    """

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # Footer composes nothing until the bindings are first told
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.refresh(recompose=True)  # coalesced: one recompose on the next idle
