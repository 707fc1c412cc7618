"""The Train screen: the settings form, start/stop/resume and the lr finder, over the followed run's live view.

The screen wires keys to its two parts: `SettingsPanel` (screens/train_settings.py), the form written
into the config, and `RunMonitor` (screens/run_monitor.py), the live view of the run the app follows.
Training runs in a detached child process that the app's `FollowedRun` starts and owns. While a run
goes, the form shows that run's own config and is locked; `p` edits the rest of the schema
(parameters, augmentation, seed, ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable, Input, Select
from textual.worker import Worker, WorkerState, get_current_worker

from core.config import RunConfig, load_config
from core.errors import WorkbenchError
from core.runs.rundir import RunDir, RunState
from core.train.events import Extension
from screens.base import WorkbenchScreen
from screens.dialogs import AskText, Choose, Confirm
from screens.param_dialogs import EditParams, KeyPath, with_values
from screens.run_monitor import RunMonitor
from screens.train_settings import SettingsPanel

LR_FIND_STEPS = 100
EXTENSION_KEYS = {"f": Extension.FINAL_LR, "r": Extension.RESCHEDULE}  # the resume dialog's keys


class TrainScreen(WorkbenchScreen):
    """Train the config in the background and watch its progress, curves, epochs and log live."""

    MODE = "train"
    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#epochs-table"
    BINDINGS = [  # priority, so they work while a NumberInput has focus; most used first (the footer's order)
        Binding("s", "start", "Start", tooltip="Start training the config", priority=True),
        Binding("x", "stop", "Stop", tooltip="Stop the training run (asks first) or the lr finder", priority=True),
        Binding("r", "resume", "Resume", tooltip="Resume or extend the stopped or finished run", priority=True),
        Binding("p", "edit_params", "Settings", priority=True,
                tooltip="Every other setting: the recipe's parameters, augmentation, clipping, seed, ..."),
        Binding("l", "find_lr", "Find lr", tooltip="Run the lr range test and fill in its suggestion", priority=True),
        Binding("v", "next_view", "View", tooltip="Show the chart, the epoch table or the run's log", priority=True),
        Binding("c", "next_metric", "Chart loss/accuracy", show=False, priority=True,
                tooltip="Chart train vs val loss, or val accuracy"),
    ]

    settings = getters.query_one(SettingsPanel)
    monitor = getters.query_one(RunMonitor)
    lr_worker: Worker | None = None  # the lr finder's, once started

    def compose_body(self) -> ComposeResult:
        yield SettingsPanel()
        yield RunMonitor()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.monitor.behind:
            self.show_run()
        else:
            self.show_settings()
            if self.app.followed.run is None:
                self.monitor.show_idle()
        self.monitor.layout_panes()

    def on_resize(self, event: Resize) -> None:
        self.monitor.layout_panes()

    @property
    def training(self) -> bool:
        return self.app.followed.is_running

    # keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":
            return isinstance(self.focused, (Input, Select))
        if action in ("start", "edit_params", "find_lr") and self.training:
            return False  # not while a run goes: the footer keeps to what can be done
        if action == "stop":
            return self.training or self.finding_lr
        if action == "resume":
            return self.resumable() is not None
        return super().check_action(action, parameters)

    def action_leave_field(self) -> None:
        """Esc (or enter) leaves the field: the focus goes to the epoch table when it is shown, else nowhere."""
        table = self.query_one("#epochs-table", DataTable)
        self.set_focus(table if table.display else None)

    def action_next_view(self) -> None:
        self.monitor.next_view()

    def action_next_metric(self) -> None:
        self.monitor.next_metric()

    # the settings

    def show_settings(self) -> None:
        """The form shows the followed run's config while it goes, else the workspace's."""
        run_config = self.monitor.run_config if self.training else None
        self.settings.show(run_config or self.workspace.config, locked=self.training)

    def on_run_monitor_run_changed(self) -> None:
        self.show_settings()
        self.refresh_bindings()

    def on_settings_panel_changed(self) -> None:
        self.config_changed()

    def config_changed(self) -> None:
        self.refresh_title()
        if not self.training and not self.finding_lr:
            self.monitor.show_idle()

    def action_edit_params(self) -> None:
        if self.training:
            self.notify("a run is going: its settings are fixed; change them for the next run once it ends",
                        severity="warning")
            return

        def saved(done: bool | None) -> None:
            if done:
                self.show_settings()

        self.app.push_screen(EditParams(self.workspace.config.to_plain(), self.apply_values), saved)

    def apply_values(self, values: dict[KeyPath, Any]) -> None:
        """Write the settings dialog's values into the config (raises ConfigError, keeping the old config)."""
        plain = self.workspace.config.to_plain()
        changed = with_values(plain, values)
        if changed != plain:
            self.workspace.replace(changed)
        self.config_changed()

    # the lr finder

    @property
    def finding_lr(self) -> bool:
        worker = self.lr_worker
        return worker is not None and not worker.is_finished and not worker.is_cancelled

    def action_find_lr(self) -> None:
        if self.training:
            self.notify("a run is going; find the lr before training or after it", severity="warning")
            return
        if self.finding_lr:
            self.notify("the lr finder is already running (x stops it)")
            return
        if not self.settings.apply_inputs():
            return
        self.monitor.show_status("finding lr", f"a short range test of {LR_FIND_STEPS} steps (x stops it)")
        self.lr_worker = self.sweep_lr(self.workspace.config)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="lr-find", exit_on_error=False)
    def sweep_lr(self, config: RunConfig) -> None:
        """The lr finder on `config`, in a thread; its suggestion goes to lr_found."""
        from core.prepare.lr_find import find_lr  # loads torch: only when asked for

        worker = get_current_worker()

        def progress(step: int, steps: int) -> None:
            self.app.call_from_thread(self.monitor.show_status, "finding lr", f"step {step}/{steps}")

        result = find_lr(config, steps=LR_FIND_STEPS, should_stop=lambda: worker.is_cancelled, progress=progress)
        if not worker.is_cancelled:
            self.app.call_from_thread(self.lr_found, result.suggestion, result.reason)

    def lr_found(self, suggestion: float, reason: str) -> None:
        """Put the finder's suggestion (to 3 significant digits) into the lr input and the config."""
        lr = float(f"{suggestion:.3g}")
        if self.settings.fill_in_lr(lr):
            self.notify(f"suggested lr {lr:g}: {reason}", title="lr finder", timeout=10)
        self.restore_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "lr-find":
            error = event.worker.error
            why = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
            self.monitor.show_status(RunState.FAILED, f"lr finder: {why}")
            self.refresh_bindings()

    def restore_status(self) -> None:
        """The status line as it was before the lr finder used it."""
        self.refresh_bindings()
        run = self.app.followed.run
        if run is None:
            self.monitor.show_idle()
        elif not run.is_running:
            self.monitor.show_outcome(run)

    # start, stop and resume

    def action_start(self) -> None:
        if self.training:
            self.notify("a run is going; stop it first (x)", severity="warning")
            return
        if self.finding_lr:
            self.notify("the lr finder is running; wait for it or stop it (x)", severity="warning")
            return
        if not self.settings.apply_inputs():
            return
        config = self.workspace.config
        try:
            self.app.followed.start(config, self.app.runs_dir)
        except OSError as exc:
            self.monitor.show_status(RunState.FAILED, f"could not start the training process: {exc}")
            return
        self.show_run(config)

    def action_stop(self) -> None:
        if self.lr_worker is not None and self.finding_lr:
            self.lr_worker.cancel()
            self.restore_status()
            self.notify("lr finder stopped")
            return
        run = self.app.followed.run
        if run is None or not run.is_running:
            self.notify("no run is going")
            return

        def answered(stop: bool | None) -> None:
            if stop and run.is_running:
                run.stop()
                self.monitor.show_status("stopping", "finishing the current step and saving last.pt")

        what = [f"{self.monitor.run_name} finishes its current step and saves last.pt", "r resumes it from there later"]
        self.app.push_screen(Confirm("Stop training?", what, "Stop"), answered)

    def resumable(self) -> Path | None:
        """The followed run's directory when it has ended and can go on from its last.pt."""
        run = self.app.followed.run
        if run is None or run.is_running or run.run_dir is None or self.finding_lr:
            return None
        return run.run_dir if RunDir(run.run_dir).checkpoint_path("last").is_file() else None

    def action_resume(self) -> None:
        run_dir = self.resumable()
        if run_dir is None:
            self.notify("no stopped or finished run to resume")
            return
        done = self.monitor.epochs_done
        total = self.monitor.total_epochs or done
        suggested = total if done < total else total + max(total, 1)  # stopped: the rest; finished: as many again

        def answered(text: str | None) -> None:
            if text is not None:
                self.resume(run_dir, text, done)

        self.app.push_screen(AskText(f"Resume {run_dir.name}: epochs in all ({done} of {total} done)",
                                     str(suggested)), answered)

    def resume(self, run_dir: Path, epochs_text: str, done: int) -> None:
        """Continue the run in `run_dir` (`workbench --resume`) up to `epochs_text` epochs in all; past the end
        of a moving schedule, ask whether the added epochs keep its final lr or the schedule is laid over them."""
        try:
            epochs = int(epochs_text)
            if epochs < max(done, 1):
                raise ValueError
        except ValueError:
            self.notify(f"{epochs_text!r}: give a whole number of epochs, at least {max(done, 1)}", severity="error")
            return
        try:
            before = load_config(RunDir(run_dir).config_path)
            config = load_config(RunDir(run_dir).config_path, [f"train.epochs={epochs}"])
        except WorkbenchError as exc:
            self.monitor.show_status(RunState.FAILED, f"could not resume {run_dir.name}: {exc}")
            return
        schedule = before.train.schedule.name
        if epochs <= before.train.epochs or schedule == "constant":
            self.start_resumed(run_dir, config, Extension.FINAL_LR)
            return
        last = self.monitor.epoch_events.get(max(self.monitor.epoch_events, default=0))
        final_lr = f" ({last.lr:.3g})" if last else ""

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.start_resumed(run_dir, config, EXTENSION_KEYS[answer])

        reasons = [(f"final lr: epochs {before.train.epochs + 1}-{epochs} train at the lr the {schedule} schedule "
                    f"ended with{final_lr}"),
                   f"reschedule: the {schedule} schedule laid over all {epochs} epochs; the lr moves back up"]
        self.app.push_screen(Choose("Extend the run: how does the lr go on?", reasons,
                                    [("f", "Final lr"), ("r", "Reschedule")]), answered)

    def start_resumed(self, run_dir: Path, config: RunConfig, extension: Extension) -> None:
        try:
            self.app.followed.start(config, self.app.runs_dir, resume=run_dir, extension=extension)
        except OSError as exc:
            self.monitor.show_status(RunState.FAILED, f"could not resume {run_dir.name}: {exc}")
            return
        self.show_run(config, resumed=True)

    def show_run(self, config: RunConfig | None = None, resumed: bool = False) -> None:
        """Show the app's followed run live, the form locked to its config."""
        self.monitor.show_run(config, resumed)
        self.show_settings()
        self.refresh_bindings()
