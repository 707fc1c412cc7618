"""The Train screen: the settings that matter, start/stop, and the run's live curves and epochs.

Training runs in a detached child process (core.launch); a worker follows its events and
the screen draws them. A crash, an out-of-memory or a bad config in the child only ever
becomes a "failed" status line here.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.config import TABLES, RunConfig, TrainConfig
from core.errors import ConfigError, WorkbenchError
from core.events import BatchEnded, EpochEnded, Event, RunFinished, RunStarted
from core.launch import LaunchedRun
from screens.base import WorkbenchScreen
from screens.param_dialogs import EditParams, choice_options, literal_choices, switch_entry
from screens.widgets.metric_chart import MetricChart

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = literal_choices(TrainConfig.model_fields["precision"])
EPOCH_COLUMNS = ("epoch", "train loss", "val loss", "val acc", "time", "samples/s")
LR_FIND_STEPS = 100
NUMBER_CHARACTERS = set("0123456789_+-.eE")  # what an Input of type integer or number can take


class NumberInput(Input):
    """A number input that leaves letter keys other than the exponent's e to the screen's bindings.

    (Textual drops every binding of a key the focused widget may type, priority ones too.)
    """

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in NUMBER_CHARACTERS


class TrainScreen(WorkbenchScreen):
    """Train the config in the background and watch its loss and accuracy live."""

    MODE = "train"
    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#epochs-table"
    BINDINGS = [  # priority, so they work while a NumberInput has focus
        Binding("s", "start", "Start training", priority=True),
        Binding("x", "stop", "Stop", tooltip="Stop the training run or the lr finder", priority=True),
        Binding("p", "edit_params", "Parameters", tooltip="Edit the optimizer's, loss's and schedule's parameters",
                priority=True),
        Binding("l", "find_lr", "Find lr", tooltip="Run the lr range test and fill in its suggestion", priority=True),
    ]

    followed: LaunchedRun | None = None
    epochs: int | None = None  # of the followed run
    finished: RunFinished | None = None  # its last event, once it has one
    lr_worker: Worker | None = None  # the lr finder's, once started

    def compose_body(self) -> ComposeResult:
        values = setting_values(self.workspace.config)
        with Grid(id="settings"):
            yield _setting("epochs", _number("epochs", "integer", values))
            yield _setting("batch size", _number("batch-size", "integer", values))
            yield _setting("learning rate", _number("lr", "number", values))
            yield _setting("device", _choice("device", values))
            for key in TABLES:
                yield _setting(key, _choice(key, values))
            yield _setting("precision", _choice("precision", values))
        yield Static("", id="settings-error", classes="error")
        yield Static("", id="train-status")
        with Horizontal(id="progress-row"):
            yield Label("epoch -", id="epoch-label")
            yield ProgressBar(id="progress", total=1, show_eta=False)
        yield MetricChart("train loss", id="train-loss")
        yield MetricChart("val loss", id="val-loss")
        yield MetricChart("val acc", "{:.1%}".format, id="val-accuracy")
        yield DataTable(id="epochs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="run-dir", classes="muted")

    def on_mount(self) -> None:
        self.query_one("#epochs-table", DataTable).add_columns(*EPOCH_COLUMNS)

    def on_screen_resume(self) -> None:
        self.show_settings()
        run = self.app.training
        if run is not None and run is not self.followed:
            self.show_run(run)
        elif self.followed is None:
            self.show_idle()

    # settings

    def show_settings(self) -> None:
        """Put the config's current values into the inputs and choices."""
        for key, value in setting_values(self.workspace.config).items():
            self._show_setting(key, value)
        self._settings_error("")

    def _show_setting(self, key: str, value: str) -> None:
        widget = self.query_one(f"#{key}")
        with self.prevent(Select.Changed):  # showing the config is not a change of it
            if isinstance(widget, Select):
                widget.set_options(choice_options(_choices(key, value)))
                widget.tooltip = _help(key, value)
            widget.value = value

    @on(Input.Submitted)
    @on(Input.Blurred)
    def input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        self.apply_setting(event.input.id, event.value)

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        key = event.select.id
        if event.value != Select.NULL and not self.apply_setting(key, event.value):
            self._show_setting(key, setting_values(self.workspace.config)[key])
        event.select.tooltip = _help(key, event.select.value)

    def apply_setting(self, key: str, value: Any) -> bool:
        """Write one setting into the config; show why when it is not valid."""
        try:
            section, changes = self._changes(key, value)
            self.update_config(section, changes)
        except ConfigError as exc:
            return self._settings_error("; ".join(issue.describe() for issue in exc.issues))
        except ValueError:
            return self._settings_error(f"{key.replace('-', ' ')}: {value!r} is not a number")
        return self._settings_error("")

    def update_config(self, section: str, changes: dict[str, Any]) -> None:
        """Change keys of one config section through the workspace (raises ConfigError)."""
        current = self.workspace.config.to_plain()[section]
        if any(current[name] != new for name, new in changes.items()):
            self.workspace.update(section, **changes)
        self.refresh_title()
        if self.followed is None and not self.finding_lr:
            self.show_idle()

    def _changes(self, key: str, value: Any) -> tuple[str, dict[str, Any]]:
        train = self.workspace.config.to_plain()["train"]
        if key == "epochs":
            return "train", {"epochs": int(value)}
        if key == "batch-size":
            return "data", {"batch_size": int(value)}
        if key == "lr":
            return "train", {"optimizer": {**train["optimizer"], "lr": float(value)}}
        if key in TABLES:
            return "train", {key: switch_entry(key, train[key], value)}
        return "train", {key: value}

    def _settings_error(self, text: str) -> bool:
        error = self.query_one("#settings-error", Static)
        error.update(text)
        error.display = bool(text)
        return not text

    def apply_inputs(self) -> bool:
        """Apply every input as typed (an edit need not be confirmed with enter before starting)."""
        return all(self.apply_setting(box.id, box.value) for box in self.query("#settings Input").results(Input))

    # parameters and the lr finder

    def action_edit_params(self) -> None:
        def saved(done: bool | None) -> None:
            if done:
                self.show_settings()

        train = self.workspace.config.to_plain()["train"]
        self.app.push_screen(EditParams(train, partial(self.update_config, "train")), saved)

    @property
    def finding_lr(self) -> bool:
        worker = self.lr_worker
        return worker is not None and not worker.is_finished and not worker.is_cancelled

    def action_find_lr(self) -> None:
        if self._training():
            self.notify("a run is going; find the lr before training or after it", severity="warning")
            return
        if self.finding_lr:
            self.notify("the lr finder is already running (x stops it)")
            return
        if not self.apply_inputs():
            return
        self.show_status("finding lr", f"a short range test of {LR_FIND_STEPS} steps (x stops it)")
        self.lr_worker = self.sweep_lr(self.workspace.config)

    @work(thread=True, exclusive=True, group="lr-find", exit_on_error=False)
    def sweep_lr(self, config: RunConfig) -> None:
        """The lr finder on `config`, in a thread; its suggestion goes to lr_found."""
        from core.lr_find import find_lr  # loads torch: only when asked for

        worker = get_current_worker()

        def progress(step: int, steps: int) -> None:
            self.app.call_from_thread(self.show_status, "finding lr", f"step {step}/{steps}")

        result = find_lr(config, steps=LR_FIND_STEPS, should_stop=lambda: worker.is_cancelled, progress=progress)
        if not worker.is_cancelled:
            self.app.call_from_thread(self.lr_found, result.suggestion, result.reason)

    def lr_found(self, suggestion: float, reason: str) -> None:
        """Put the finder's suggestion (to 3 significant digits) into the lr input and the config."""
        lr = float(f"{suggestion:.3g}")
        self.query_one("#lr", Input).value = f"{lr:g}"
        if self.apply_setting("lr", lr):
            self.notify(f"suggested lr {lr:g}: {reason}", title="lr finder", timeout=10)
        self.restore_status()

    def restore_status(self) -> None:
        """The status line as it was before the lr finder used it."""
        if self.followed is None:
            self.show_idle()
        elif not self.followed.is_running:
            self.show_outcome(self.followed)

    # start, stop and follow

    def _training(self) -> bool:
        return self.app.training is not None and self.app.training.is_running

    def action_start(self) -> None:
        if self._training():
            self.notify("a run is going; stop it first (x)", severity="warning")
            return
        if self.finding_lr:
            self.notify("the lr finder is running; wait for it or stop it (x)", severity="warning")
            return
        if not self.apply_inputs():
            return
        try:
            run = LaunchedRun.start(self.workspace.config, self.app.runs_dir)
        except OSError as exc:
            self.show_status("failed", f"could not start the training process: {exc}")
            return
        self.app.training = run
        self.show_run(run)

    def action_stop(self) -> None:
        if self.finding_lr:
            self.lr_worker.cancel()
            self.restore_status()
            self.notify("lr finder stopped")
            return
        run = self.followed
        if run is None or not run.is_running:
            self.notify("no run is going")
            return
        run.stop()
        self.show_status("stopping", "finishing the current step and saving last.pt")

    def show_run(self, run: LaunchedRun) -> None:
        """Show `run` from its first event on."""
        self.followed, self.epochs, self.finished = run, None, None
        self.reset_view()
        self.show_status(run.state, "waiting for the training process")
        self.follow(run)

    @work(exclusive=True, group="follow", exit_on_error=False)
    async def follow(self, run: LaunchedRun) -> None:
        async for event in run.follow():
            self.apply_event(event)
        self.show_outcome(run)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "follow":
            self.show_status("failed", f"lost track of the run: {error}")
        elif event.worker.group == "lr-find":
            why = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
            self.show_status("failed", f"lr finder: {why}")

    # drawing

    def reset_view(self) -> None:
        for chart in self.query(MetricChart).results(MetricChart):
            chart.set_values([])
        self.query_one("#epochs-table", DataTable).clear()
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)
        self.query_one("#epoch-label", Label).update("epoch -")
        self.query_one("#run-dir", Static).update("")

    def apply_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, BatchEnded):
            self._batch_ended(event)
        elif isinstance(event, EpochEnded):
            self._epoch_ended(event)
        elif isinstance(event, RunFinished):
            self.finished = event

    def _started(self, event: RunStarted) -> None:
        self.show_status("running", f"{event.name} on {event.device}: {event.train_samples} train / "
                                    f"{event.val_samples} val images, {len(event.classes)} classes, "
                                    f"{event.parameters:,} parameters")
        self.query_one("#run-dir", Static).update(f"run directory: {event.run_dir}")
        self.epochs = event.epochs

    def _batch_ended(self, event: BatchEnded) -> None:
        self.query_one("#train-loss", MetricChart).append(event.loss)
        self.query_one("#progress", ProgressBar).update(total=event.batches, progress=event.batch)
        self.query_one("#epoch-label", Label).update(f"epoch {event.epoch}/{self.epochs or '?'}")

    def _epoch_ended(self, event: EpochEnded) -> None:
        self.query_one("#val-loss", MetricChart).append(event.val_loss)
        self.query_one("#val-accuracy", MetricChart).append(event.val_accuracy)
        table = self.query_one("#epochs-table", DataTable)
        table.add_row(f"{event.epoch}/{event.epochs}", f"{event.train_loss:.4f}", f"{event.val_loss:.4f}",
                      f"{event.val_accuracy:.1%}", f"{event.seconds:.1f}s", f"{event.samples_per_second:,.0f}")
        table.move_cursor(row=table.row_count - 1)

    def show_outcome(self, run: LaunchedRun) -> None:
        """The final status line of a run whose process has ended."""
        done = self.finished
        if run.state == "failed" or done is None:
            self.show_status("failed", run.error_text or "")
        elif done.status == "stopped":
            self.show_status("stopped", f"after {done.epochs_done} epoch(s); last.pt saved")
        else:
            best = f", best val acc {done.best_val_accuracy:.1%} at epoch {done.best_epoch}" if done.best_epoch else ""
            self.show_status("finished", f"{done.epochs_done} epoch(s) in {done.seconds:.0f}s{best}")
        if run.run_dir is not None:
            self.query_one("#run-dir", Static).update(f"run directory: {run.run_dir}")

    def show_idle(self) -> None:
        config = self.workspace.config
        self.show_status("ready", f"s trains {config.name} for {config.train.epochs} epoch(s) "
                                  f"on device {config.train.device}")

    def show_status(self, state: str, detail: str) -> None:
        status = self.query_one("#train-status", Static)
        status.update(f"{state}: {detail}" if detail else state)
        status.set_classes(f"state-{state.replace(' ', '-')}")


CHOICES = {"device": DEVICES, **{key: table.names for key, table in TABLES.items()}, "precision": PRECISIONS}


def setting_values(config: RunConfig) -> dict[str, str]:
    """The value each setting widget (by id) shows for `config`."""
    train = config.train
    return {"epochs": str(train.epochs), "batch-size": str(config.data.batch_size), "lr": f"{train.optimizer.lr:g}",
            "device": train.device, **{key: getattr(train, key).name for key in TABLES}, "precision": train.precision}


def _choices(key: str, value: str) -> tuple[str, ...]:
    """The offered choices of a setting, with the config's value even when it is not one of them (cuda:1)."""
    return CHOICES[key] if value in CHOICES[key] else (*CHOICES[key], value)


def _help(key: str, value: Any) -> str | None:
    return TABLES[key][value].help if key in TABLES and value in TABLES[key].names else None


def _number(key: str, kind: str, values: dict[str, str]) -> NumberInput:
    return NumberInput(values[key], type=kind, id=key, compact=True)


def _choice(key: str, values: dict[str, str]) -> Select:
    return Select(choice_options(_choices(key, values[key])), value=values[key], allow_blank=False, compact=True,
                  id=key, tooltip=_help(key, values[key]))


def _setting(label: str, control: Input | Select) -> Vertical:
    return Vertical(Label(label, classes="setting-label"), control, classes="setting")
