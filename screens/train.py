"""The Train screen: the settings that matter, start/stop, and the run's live curves and epochs.

Training runs in a detached child process (core.launch); a worker follows its events and
the screen draws them. A crash, an out-of-memory or a bad config in the child only ever
becomes a "failed" status line here.
"""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from core.errors import ConfigError
from core.events import BatchEnded, EpochEnded, Event, RunFinished, RunStarted
from core.launch import LaunchedRun
from screens.base import WorkbenchScreen
from screens.widgets.metric_chart import MetricChart

OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda", "mps")
EPOCH_COLUMNS = ("epoch", "train loss", "val loss", "val acc", "time", "samples/s")


class TrainScreen(WorkbenchScreen):
    """Train the config in the background and watch its loss and accuracy live."""

    MODE = "train"
    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#epochs-table"
    BINDINGS = [  # priority: the number inputs would swallow the keys otherwise
        Binding("s", "start", "Start training", priority=True),
        Binding("x", "stop", "Stop training", priority=True),
    ]

    followed: LaunchedRun | None = None
    epochs: int | None = None  # of the followed run
    finished: RunFinished | None = None  # its last event, once it has one

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="settings"):
            yield _setting("epochs", Input(type="integer", id="epochs"))
            yield _setting("optimizer", Select([(name, name) for name in OPTIMIZERS], allow_blank=False,
                                               id="optimizer"))
            yield _setting("learning rate", Input(type="number", id="lr"))
            yield _setting("batch size", Input(type="integer", id="batch-size"))
            yield _setting("device", Select([(name, name) for name in DEVICES], allow_blank=False, id="device"))
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
        """Put the config's current values into the inputs."""
        config = self.workspace.config
        self.query_one("#epochs", Input).value = str(config.train.epochs)
        self.query_one("#lr", Input).value = f"{config.train.optimizer.lr:g}"
        self.query_one("#batch-size", Input).value = str(config.data.batch_size)
        self.query_one("#optimizer", Select).value = config.train.optimizer.name
        device = self.query_one("#device", Select)
        if config.train.device not in DEVICES:
            device.set_options([(name, name) for name in (*DEVICES, config.train.device)])
        device.value = config.train.device

    @on(Input.Submitted)
    @on(Input.Blurred)
    def input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        self.apply_setting(event.input.id, event.value)

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        if event.value != Select.NULL:
            self.apply_setting(event.select.id, event.value)

    def apply_setting(self, key: str, value: Any) -> bool:
        """Write one setting into the config; show why when it is not valid."""
        try:
            section, changes = self._changes(key, value)
            current = self.workspace.config.to_plain()[section]
            if any(current[name] != new for name, new in changes.items()):
                self.workspace.update(section, **changes)
        except ConfigError as exc:
            return self._settings_error("; ".join(issue.describe() for issue in exc.issues))
        except ValueError:
            return self._settings_error(f"{key.replace('-', ' ')}: {value!r} is not a number")
        self._settings_error("")
        self.refresh_title()
        if self.followed is None:
            self.show_idle()
        return True

    def _changes(self, key: str, value: Any) -> tuple[str, dict[str, Any]]:
        optimizer = self.workspace.config.train.optimizer.model_dump()
        if key == "epochs":
            return "train", {"epochs": int(value)}
        if key == "batch-size":
            return "data", {"batch_size": int(value)}
        if key == "lr":
            return "train", {"optimizer": {**optimizer, "lr": float(value)}}
        if key == "optimizer":  # momentum belongs to sgd alone
            momentum = optimizer["momentum"] if value == "sgd" else 0.0
            return "train", {"optimizer": {**optimizer, "name": value, "momentum": momentum}}
        return "train", {"device": value}

    def _settings_error(self, text: str) -> bool:
        error = self.query_one("#settings-error", Static)
        error.update(text)
        error.display = bool(text)
        return not text

    def apply_inputs(self) -> bool:
        """Apply every input as typed (an edit need not be confirmed with enter before starting)."""
        return all(self.apply_setting(box.id, box.value) for box in self.query("#settings Input").results(Input))

    # start, stop and follow

    def action_start(self) -> None:
        current = self.app.training
        if current is not None and current.is_running:
            self.notify("a run is going; stop it first (x)", severity="warning")
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
        if event.worker.group == "follow" and event.state == WorkerState.ERROR:
            self.show_status("failed", f"lost track of the run: {event.worker.error}")

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
        status.set_classes(f"state-{state}")


def _setting(label: str, control: Input | Select) -> Vertical:
    return Vertical(Label(label, classes="setting-label"), control, classes="setting")
