"""The Textual app: five screens (keys 1-5), help (?), the command palette (ctrl+p), quit (q)."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from core.workspace import Workspace
from screens.classify import ClassifyScreen
from screens.data import DataScreen
from screens.dialogs import ConfirmQuit
from screens.help import HelpScreen
from screens.model import ModelScreen
from screens.runs import RunsScreen
from screens.train import TrainScreen


class WorkbenchApp(App):
    """Browse data, build a model, train it, classify images and compare runs."""

    TITLE = "workbench"
    CSS_PATH = "app.tcss"
    MODES = {"data": DataScreen, "model": ModelScreen, "train": TrainScreen,
             "classify": ClassifyScreen, "runs": RunsScreen}
    DEFAULT_MODE = "data"
    BINDINGS = [
        Binding("1", "switch_mode('data')", "Data", show=False),
        Binding("2", "switch_mode('model')", "Model", show=False),
        Binding("3", "switch_mode('train')", "Train", show=False),
        Binding("4", "switch_mode('classify')", "Classify", show=False),
        Binding("5", "switch_mode('runs')", "Runs", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "request_quit", "Quit"),
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, workspace: Workspace, runs_dir: Path = Path("runs")) -> None:
        super().__init__()
        self.workspace = workspace
        self.runs_dir = runs_dir
        self.training = None  # the core.launch.LaunchedRun the Train screen started, if any

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_request_quit(self) -> None:
        """Quit, asking first when the config has unsaved changes or a training run is going."""
        reasons = self.quit_concerns()
        if not reasons:
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(ConfirmQuit(reasons), answered)

    def quit_concerns(self) -> list[str]:
        concerns = ["the config has unsaved changes"] if self.workspace.dirty else []
        if self.training is not None and self.training.is_running:
            concerns.append("a training run is going (it keeps running after you quit)")
        return concerns

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, screen_class in self.MODES.items():
            yield SystemCommand(f"Go to {mode.title()}", f"the {mode} screen", partial(self.switch_mode, mode))
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.description and active.node is not self and active.enabled:
                yield SystemCommand(binding.description, f"{screen.__class__.__name__}: key {key}",
                                    partial(self.run_action, binding.action, active.node))
        yield SystemCommand("Help", "keys of every screen", self.action_help)


def make_app(config_path: Path | None = None, runs_dir: Path = Path("runs")) -> WorkbenchApp:
    """The app on a config file (default: ./workbench.yaml, else the demo config)."""
    from core.workspace import default_config_path

    path = config_path or default_config_path(Path.cwd())
    return WorkbenchApp(Workspace.open(path), runs_dir)
