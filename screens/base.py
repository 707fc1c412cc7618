"""What every workbench screen shares: the app's state, typed; the navigation bar on top, the key footer below,
and leaving fields.

Screens and their widgets reach the app as `self.app`, typed as `AppBase` through `getters.app`:
workbench/app.py builds the app on `AppBase`, and screens never import workbench.

Esc leaves the field being edited and Enter commits it and leaves it too, so the screen's keys
work again at once (the focus goes back to the screen's main widget, its AUTO_FOCUS).
"""
from __future__ import annotations

from pathlib import Path

from textual import events, getters, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from core.prepare.workspace import Workspace
from core.runs.launch import FollowedRun
from core.runs.tensorboard_server import TensorBoardServer
from screens.widgets.key_footer import KeyFooter
from screens.widgets.navbar import NavBar


class AppBase(App[None]):
    """The app as screens know it: the state they share, each one typed object."""

    def __init__(self, workspace: Workspace, runs_dir: Path = Path("runs")) -> None:
        super().__init__()
        self.workspace = workspace  # the config being edited
        self.runs_dir = runs_dir
        self.followed = FollowedRun()  # the training run the app follows, the one the Train screen shows
        self.tensorboard = TensorBoardServer(runs_dir)

    def screen_classes(self) -> dict[str, type[Screen]]:
        """Each mode's screen class, in key order (importing the screens not shown yet)."""
        raise NotImplementedError


class WorkbenchScreen(Screen):
    """A top-level screen; subclasses set MODE and implement compose_body()."""

    MODE = ""
    app = getters.app(AppBase)
    BINDINGS = [Binding("escape", "leave_field", "Leave the field", show=False)]

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE, self.config_title())
        yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    @property
    def workspace(self) -> Workspace:
        """The config the app is editing."""
        return self.app.workspace

    def config_title(self) -> str:
        workspace = self.workspace
        name = str(workspace.path.name) if workspace.path else "unsaved config"
        return f"{name}{' *' if workspace.dirty else ''}"

    def refresh_title(self) -> None:
        self.query_one(NavBar).set_title(self.config_title())

    def on_screen_resume(self) -> None:
        self.refresh_title()

    suspended = False  # whether the screen was left since it mounted

    @on(events.ScreenSuspend)
    def _note_suspended(self) -> None:
        self.suspended = True

    @on(events.ScreenResume)
    def _restyle_after_suspend(self, event: events.ScreenResume) -> None:
        """Textual restyles the whole screen at each resume, twice at a mode's first visit; a screen never left is
        styled already (as it mounted), and restyling it was a third of the Train screen's first visit."""
        event.refresh_styles = self.suspended

    # leaving fields

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":
            return isinstance(self.focused, Input)
        return True

    def action_leave_field(self) -> None:
        """Give the focus back to the screen's main widget (or to nothing), so its keys work again."""
        target = next(iter(self.query(self.AUTO_FOCUS)), None) if self.AUTO_FOCUS else None
        self.set_focus(target if target is not None and target.focusable else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter commits a field (the screen's own handler applies it) and leaves it."""
        self.call_after_refresh(self.action_leave_field)
