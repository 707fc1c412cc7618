"""The Textual app: six screens (keys 1-6), help (?), the command palette (ctrl+p), saving (ctrl+s), quit (q).

`SCREENS` is the one list of modes: the navigation bar, the 1-6 keys, the help and the palette
all come from it. A screen's module is imported when it is first shown, and right after the first
frame a worker imports torch and the other screens, so the app draws at once and every first
visit is quick. The app holds the state screens share, each as one typed object (screens.base.AppBase):
the config being edited (`workspace`), the followed training run (`followed`) and the TensorBoard server.
Screens ask each other for things with messages (screens/messages.py) that the app serves.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from core.errors import WorkbenchError
from core.prepare.workspace import Workspace, is_example
from core.runs.launch import LaunchError
from screens import SCREEN_STYLESHEETS
from screens.base import AppBase, WorkbenchScreen
from screens.dialogs import AskText, Confirm, ConfirmQuit
from screens.help import HelpScreen
from screens.messages import ClassifyWith, FollowRun, UseModelFile
from screens.widgets.navbar import mode_title
from workbench.run_alerts import RunAlerts
from workbench.terminal import ascii_driver, locale_warning, utf8_locale


@dataclass(frozen=True)
class ScreenEntry:
    """A mode and where its screen class lives; called, it makes the screen (importing its module once)."""

    mode: str
    where: str  # "module:Class"

    def load(self) -> type[WorkbenchScreen]:
        module, name = self.where.split(":")
        return getattr(import_module(module), name)

    def __call__(self) -> WorkbenchScreen:
        screen = self.load()()
        # Textual re-parses all the app's CSS and restyles every screen twice when a mode's screen is new (its CSS
        # generation unset): 0.1-0.3 s of a first visit. Once the first screen is shown (that refresh set the
        # theme's variables), a new screen's widgets are styled as they mount by the current CSS (every
        # stylesheet is read at start, CSS_PATH), so the screen is current from the start.
        if screen.app.screen_stack:
            screen._css_update_count = screen.app._css_update_count
        return screen


SCREENS: tuple[ScreenEntry, ...] = (  # in key order: 1 is Data
    ScreenEntry("data", "screens.data:DataScreen"), ScreenEntry("model", "screens.model:ModelScreen"),
    ScreenEntry("train", "screens.train:TrainScreen"), ScreenEntry("classify", "screens.classify:ClassifyScreen"),
    ScreenEntry("runs", "screens.runs:RunsScreen"), ScreenEntry("sweeps", "screens.sweeps:SweepsScreen"))
WARM_UP_CLASSES = 2  # any class count: the warm-up's model check only loads what every check needs
TEXTUAL_ACTIONS = {binding.action for binding in Binding.make_bindings((*Screen.BINDINGS, *App.BINDINGS))}  # focus, copy, ...: not in ctrl+p


class WorkbenchApp(AppBase):
    """Browse data, build a model, train it, classify images and compare runs."""

    TITLE = "workbench"
    CSS_PATH = ["app.tcss", *SCREEN_STYLESHEETS]  # all parsed once at start, not again at each first visit
    MODES = {entry.mode: entry for entry in SCREENS}
    DEFAULT_MODE = SCREENS[0].mode
    BINDINGS = [
        *(Binding(str(number), f"switch_mode('{entry.mode}')", mode_title(entry.mode), show=False)
          for number, entry in enumerate(SCREENS, start=1)),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "request_quit", "Quit", show=False),  # the footer keeps its room for each screen's keys
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True),
        Binding("ctrl+s", "save_config", "Save config", show=False),
    ]

    def __init__(self, workspace: Workspace, runs_dir: Path = Path("runs"), *, ascii_only: bool = False) -> None:
        self.ascii_only = ascii_only  # read by get_driver_class, which App.__init__ calls
        super().__init__(workspace, runs_dir)

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        return ascii_driver(driver) if self.ascii_only else driver

    def on_mount(self) -> None:
        self.run_alerts = RunAlerts(self, self.followed)  # a toast and the bell when the followed run ends
        if self.ascii_only:
            self.notify(locale_warning(os.environ), title="no UTF-8 locale", severity="warning", timeout=20)
        self.call_after_refresh(self.warm_up)

    def screen_classes(self) -> dict[str, type[Screen]]:
        return {entry.mode: entry.load() for entry in SCREENS}

    @work(thread=True, group="warm-up")
    def warm_up(self) -> None:
        """After the first frame: import torch and every screen, and check the model and estimate its memory once
        (the first check on the meta device loads torch's decompositions, the first optimizer torch._dynamo: seconds
        each on a small machine), so no first visit waits for them."""
        # What is loaded by then lives as long as the app, so the garbage collector is told to skip it, before and
        # after the warm-up's imports: a full collection over torch's objects took 0.3-0.5 s of the UI thread (the
        # GIL), in the middle of the warm-up and of some screen's first visit.
        gc.freeze()
        from core.prepare.memory_estimate import optimizer_state_per_value
        from core.prepare.preflight import check_config_model

        self.screen_classes()
        try:
            check_config_model(self.workspace.config, WARM_UP_CLASSES)
            optimizer_state_per_value(self.workspace.config)
        except WorkbenchError:
            pass  # the Model screen says what is wrong with the model; here only the loading counted
        gc.freeze()

    # messages from screens

    async def on_classify_with(self, message: ClassifyWith) -> None:
        await self.switch_mode("classify")
        self.screen.post_message(UseModelFile(message.path))

    async def on_follow_run(self, message: FollowRun) -> None:
        try:
            self.followed.attach(message.run_dir)
        except LaunchError as exc:
            self.notify(str(exc), severity="warning")
            return
        await self.switch_mode("train")

    # help, saving, quitting

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_save_config(self) -> None:
        """Save the config under a name asked for (an example in configs/ is never overwritten)."""
        self.save_config()

    def save_config(self, then: Callable[[], None] = lambda: None) -> None:
        """Ask for the name and save; `then` runs once the config is saved (never when cancelled or refused)."""
        workspace = self.workspace
        suggested = workspace.suggest_path(Path.cwd()) if workspace.needs_new_path else workspace.path
        note = " (examples in configs/ are never overwritten)" if is_example(workspace.path) else ""

        def answered(text: str | None) -> None:
            if not text:
                return
            target = Path(text).expanduser()
            if is_example(target):
                self.notify(f"{target} is an example config; save under another name", severity="error")
            elif target.exists() and (workspace.path is None or target.resolve() != workspace.path.resolve()):
                self.push_screen(Confirm(f"Overwrite {target.name}?", [f"{target} exists and will be replaced"],
                                         "Overwrite"), lambda yes: self._save(target, then) if yes else None)
            else:
                self._save(target, then)

        self.push_screen(AskText(f"Save the config as{note}", str(suggested)), answered)

    def _save(self, target: Path, then: Callable[[], None]) -> None:
        try:
            saved = self.workspace.save(target)
        except (WorkbenchError, OSError, ValueError) as exc:
            self.notify(str(exc), title="not saved", severity="error")
            return
        self.notify(f"saved {saved} (the keys that differ from the defaults)")
        if isinstance(self.screen, WorkbenchScreen):
            self.screen.refresh_title()
        then()

    async def action_request_quit(self) -> None:
        """Quit, asking first when the config has unsaved changes (save it first, or not) or a training run is going
        (leave it running, or stop it)."""
        reasons = self.quit_concerns()
        if not reasons:
            self.exit()
            return
        training = self.followed.is_running

        def answered(answer: str | None) -> None:
            if answer == "stop" and self.followed.run is not None:
                self.followed.run.stop()  # it saves last.pt and ends by itself
            if answer == "save":
                self.save_config(then=self.exit)  # a run going is left running
            elif answer in ("quit", "leave", "stop"):
                self.exit()

        self.push_screen(ConfirmQuit(reasons, training=training, unsaved=self.workspace.dirty), answered)

    def quit_concerns(self) -> list[str]:
        concerns = ["the config has unsaved changes (w saves them first)"] if self.workspace.dirty else []
        if self.followed.is_running:
            concerns.append("a training run is going: leave it running (the Runs screen finds it again), "
                            "or stop it (it saves last.pt)")
        return concerns

    def on_unmount(self) -> None:
        self.tensorboard.stop()  # also after a crash: run_app stops it again, and it dies with the app's process

    # the command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The screen's actions by name, the screens, help and quit (not Textual's own entries, nor widgets' keys)."""
        app_names = {binding.action: binding.description for binding in Binding.make_bindings(type(self).BINDINGS)}
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if (active.node not in (screen, self) or not binding.description or not active.enabled
                    or binding.action in TEXTUAL_ACTIONS or binding.action.startswith("switch_mode")
                    or binding.action in ("help", "request_quit", "command_palette") or binding.action in seen):
                continue
            seen.add(binding.action)
            title = app_names.get(binding.action.removeprefix("app."), binding.description)  # "Save" -> "Save config"
            where = "app" if active.node is self else screen.__class__.__name__.removesuffix("Screen")
            help_text = binding.tooltip or f"{where}: key {self.get_key_display(binding)}"
            yield SystemCommand(title, help_text, partial(self.run_action, binding.action, active.node))
        for number, mode in enumerate(self.MODES, start=1):
            yield SystemCommand(f"Go to {mode_title(mode)}", f"the {mode} screen (key {number})",
                                partial(self.switch_mode, mode))
        yield SystemCommand("Help", "keys of every screen (key ?)", self.action_help)
        yield SystemCommand("Quit", "quit workbench, asking first if something is unsaved or running (key q)",
                            self.action_request_quit)


def make_app(config_path: Path | None = None, runs_dir: Path = Path("runs")) -> WorkbenchApp:
    """The app on a config file (default: ./workbench.yaml, else the demo config)."""
    from core.prepare.workspace import default_config_path

    path = config_path or default_config_path(Path.cwd())
    return WorkbenchApp(Workspace.open(path), runs_dir, ascii_only=not utf8_locale(os.environ))
