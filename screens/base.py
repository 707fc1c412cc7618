"""What every workbench screen shares: the navigation bar on top and the key footer below."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from screens.widgets.navbar import NavBar


class WorkbenchScreen(Screen):
    """A top-level screen; subclasses set MODE and implement compose_body()."""

    MODE = ""

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE, self.config_title())
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def workspace(self):
        """The core.workspace.Workspace the app is editing."""
        return self.app.workspace

    def config_title(self) -> str:
        workspace = self.app.workspace
        name = str(workspace.path.name) if workspace.path else "unsaved config"
        return f"{name}{' *' if workspace.dirty else ''}"

    def refresh_title(self) -> None:
        self.query_one(NavBar).set_title(self.config_title())

    def on_screen_resume(self) -> None:
        self.refresh_title()
