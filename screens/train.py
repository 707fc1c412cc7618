"""The Train screen: the settings, start/stop/resume, and the run's live progress, curves, epochs and log.

Training runs in a detached child process (core.runs.launch); a worker follows its events and the
screen draws them. A crash, an out-of-memory or a bad config in the child only ever becomes a
"failed" status with the run's log beside it. While a run goes, the settings show that run's own
config and are locked; `p` edits the rest of the schema (parameters, augmentation, seed, ...).

At 80x24 the lower pane shows one of the chart, the epoch table and the log (`v` switches); a
terminal WIDE_COLUMNS wide shows chart and epochs side by side, and TALL_ROWS high the log too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.events import Resize
from textual.widgets import DataTable, Input, Label, Log, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.config import TABLES, RunConfig, TrainConfig, load_config
from core.errors import ConfigError, WorkbenchError
from core.train.events import (BatchEnded, DataProgress, EpochEnded, Event, RunFailed, RunFinished, RunResumed,
                         RunStarted)
from core.runs.launch import LaunchedRun
from core.prepare.workspace import switch_entry
from screens.base import WorkbenchScreen
from screens.dialogs import AskText, Confirm
from screens.param_dialogs import EditParams, KeyPath, choice_options, literal_choices, with_values
from screens.widgets.line_chart import LineChart, Series
from screens.widgets.metric_chart import MetricChart
from screens.widgets.run_progress import RunProgress
from screens.widgets.system_panel import SystemPanel

DEVICES = ("auto", "cpu", "cuda", "mps")  # offered until the machine's own list is known
PRECISIONS = literal_choices(TrainConfig.model_fields["precision"])
EPOCH_COLUMNS = (("epoch", "epoch"), ("train_loss", "train loss"), ("val_loss", "val loss"),
                 ("val_accuracy", "val acc"), ("lr", "lr"), ("time", "time"), ("speed", "samples/s"))
LR_FIND_STEPS = 100
NUMBER_CHARACTERS = set("0123456789_+-.eE")  # what an Input of type integer or number can take
WIDE_COLUMNS = 160  # from this width the chart and the epoch table sit side by side
TALL_ROWS = 40  # from this height (and WIDE_COLUMNS) the log is shown under them
VIEWS = ("chart", "epochs", "log")  # the lower pane's views, in the order `v` steps through them
METRICS = ("loss", "accuracy")  # what the chart plots, in the order `c` steps through them
MAX_LOSS_POINTS = 4000  # batch losses kept for the chart; beyond, every other one is dropped
MAX_POINTS = 500  # of them, the training loss's sparkline shows the latest
LOG_LINES = 500
LOG_FIRST_BYTES = 64_000  # of a long train.log, only the end is read when following starts
BEST = "★"


class NumberInput(Input):
    """A number input that leaves letter keys other than the exponent's e to the screen's bindings.

    (Textual drops every binding of a key the focused widget may type, priority ones too.)
    """

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in NUMBER_CHARACTERS


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

    followed: LaunchedRun | None = None
    run_config: RunConfig | None = None  # the followed run's own config, once known
    started: RunStarted | None = None  # its latest start event
    finished: RunFinished | None = None  # its last event, once it has one
    lr_worker: Worker | None = None  # the lr finder's, once started

    def __init__(self) -> None:
        super().__init__()
        self.view, self.metric = "chart", "loss"
        self.device_labels: dict[str, str] = {}  # train.device value -> what the picker shows
        self.device_values: tuple[str, ...] = DEVICES
        self.device_help = "cpu, a CUDA device by index, mps, or auto (the first GPU, else the CPU)"
        self._clear_history()

    def _clear_history(self) -> None:
        self.losses: list[tuple[float, float]] = []  # (epoch position, train loss) per reported batch
        self.losses_drawn = 0  # how many of them the chart shows
        self.epoch_events: dict[int, EpochEnded] = {}
        self.best_epoch: int | None = None
        self.total_epochs = 0
        self.log_offset, self.log_partial = 0, b""

    def compose_body(self) -> ComposeResult:
        values = setting_values(self.workspace.config)
        with Grid(id="settings"):
            yield _setting("epochs", _number("epochs", "integer", values))
            yield _setting("batch size", _number("batch-size", "integer", values))
            yield _setting("learning rate", _number("lr", "number", values))
            yield _setting("device", self._device_select(values["device"]))
            for key in TABLES:
                yield _setting(key, _choice(key, values))
            yield _setting("precision", _choice("precision", values))
        yield Static("", id="settings-error", classes="error")
        yield Static("", id="train-status")
        yield Static("", id="run-warnings", classes="warning")
        yield RunProgress(id="run-progress")
        yield SystemPanel(id="system-panel")
        with Vertical(id="sparklines"):
            yield MetricChart("train loss", id="train-loss")
            yield MetricChart("val loss", id="val-loss")
            yield MetricChart("val acc", "{:.1%}".format, id="val-accuracy")
        with Grid(id="panes"):
            yield LineChart(id="chart")
            yield DataTable(id="epochs-table", cursor_type="row", zebra_stripes=True)
            yield Log(id="run-log", max_lines=LOG_LINES)
        yield Static("", id="run-dir", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one("#epochs-table", DataTable)
        for key, label in EPOCH_COLUMNS:
            table.add_column(label, key=key)
        self.clock = self.set_interval(1.0, self.tick, pause=True)
        self.list_devices()
        self.draw_chart()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        run = self._app_run()
        if run is not None and run is not self.followed:
            self.show_run(run)
        else:
            self.show_settings()
            if self.followed is None:
                self.show_idle()
        self.layout_panes()

    def on_resize(self, event: Resize) -> None:
        self.layout_panes()

    # the app's run (the one this screen started, or the Runs screen attached)

    def _app_run(self) -> LaunchedRun | None:
        return self.app.followed.run

    def _set_app_run(self, run: LaunchedRun) -> None:
        self.app.followed.run = run

    def _training(self) -> bool:
        run = self._app_run()
        return run is not None and run.is_running

    # keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":
            return isinstance(self.focused, (Input, Select))
        if action in ("start", "edit_params", "find_lr") and self._training():
            return False  # not while a run goes: the footer keeps to what can be done
        if action == "stop":
            return self._training() or self.finding_lr
        if action == "resume":
            return self.resumable() is not None
        return super().check_action(action, parameters)

    def action_leave_field(self) -> None:
        """Esc (or enter) leaves the field: the focus goes to the epoch table when it is shown, else nowhere."""
        table = self.query_one("#epochs-table", DataTable)
        self.set_focus(table if table.display else None)

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        if self._wide() and not self._tall() and self.view == "epochs":
            self.view = "log"  # chart and epochs are one view there
        self.layout_panes()

    def action_next_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self.draw_chart()
        if not self.query_one("#chart", LineChart).display:
            self.view = "chart"
            self.layout_panes()

    # the lower pane's layout

    def _wide(self) -> bool:
        return self.size.width >= WIDE_COLUMNS

    def _tall(self) -> bool:
        return self.size.height >= TALL_ROWS

    def layout_panes(self) -> None:
        wide, tall = self._wide(), self._tall()
        if wide and tall:
            shown = set(VIEWS)
        elif wide:
            shown = {"log"} if self.view == "log" else {"chart", "epochs"}
        else:
            shown = {self.view}
        panes = self.query_one("#panes", Grid)
        panes.set_class(wide and tall, "-all")
        panes.set_class(wide and shown == {"chart", "epochs"}, "-pair")
        for view, widget_id in zip(VIEWS, ("#chart", "#epochs-table", "#run-log")):
            widget = self.query_one(widget_id)
            widget.display = view in shown
        if isinstance(self.focused, DataTable) and not self.focused.display:
            self.set_focus(None)

    # settings

    def show_settings(self) -> None:
        """Put a config's values into the inputs and choices: the followed run's while it goes, else the workspace's."""
        locked = self._training() and self.run_config is not None
        config = self.run_config if locked else self.workspace.config
        for key, value in setting_values(config).items():
            self._show_setting(key, value)
        self.query_one("#settings", Grid).disabled = self._training()
        self._settings_error("")

    def _show_setting(self, key: str, value: str) -> None:
        widget = self.query_one(f"#{key}")
        with self.prevent(Select.Changed):  # showing the config is not a change of it
            if isinstance(widget, Select):
                widget.set_options(self._options(key, value))
                widget.tooltip = self.tooltip_for(key, value)
            widget.value = value

    def _options(self, key: str, value: str) -> list[tuple[str, Any]]:
        if key != "device":
            return choice_options(_choices(key, value))
        values = self.device_values if value in self.device_values else (*self.device_values, value)
        return [(self.device_labels.get(name, name), name) for name in values]

    def tooltip_for(self, key: str, value: Any) -> str | None:
        return self.device_help if key == "device" else _help(key, value)

    def _device_select(self, value: str) -> Select:
        return Select(self._options("device", value), value=value, allow_blank=False, compact=True, id="device",
                      tooltip=self.device_help)

    @work(thread=True, exclusive=True, group="devices", exit_on_error=False)
    def list_devices(self) -> None:
        """The machine's devices for the picker (cpu and its threads, CUDA devices with name and free memory)."""
        from core.prepare.devices import list_devices

        devices = list_devices()
        self.app.call_from_thread(self.devices_listed, [(device.value, device.description) for device in devices])

    def devices_listed(self, devices: list[tuple[str, str]]) -> None:
        self.device_values = ("auto", *(value for value, _ in devices))
        self.device_labels = dict(devices)
        first = next((value for value, _ in devices if value != "cpu"), "cpu")
        select = self.query_one("#device", Select)
        self._show_setting("device", str(select.value))
        self.device_help = f"auto is {first} here; " + "; ".join(self.device_labels.values())
        select.tooltip = self.device_help

    @on(Input.Submitted)
    @on(Input.Blurred)
    def input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        if not self._training():  # the fields show the running run's settings: nothing to apply
            self.apply_setting(event.input.id, event.value)

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        key = event.select.id
        if event.value != Select.NULL and not self.apply_setting(key, event.value):
            self._show_setting(key, setting_values(self.workspace.config)[key])
        event.select.tooltip = self.tooltip_for(key, event.select.value)

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
        self.config_changed()

    def config_changed(self) -> None:
        self.refresh_title()
        if (self.followed is None or not self.followed.is_running) and not self.finding_lr:
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

    # the settings dialog and the lr finder

    def action_edit_params(self) -> None:
        if self._training():
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
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="lr-find", exit_on_error=False)
    def sweep_lr(self, config: RunConfig) -> None:
        """The lr finder on `config`, in a thread; its suggestion goes to lr_found."""
        from core.prepare.lr_find import find_lr  # loads torch: only when asked for

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
        self.refresh_bindings()
        if self.followed is None:
            self.show_idle()
        elif not self.followed.is_running:
            self.show_outcome(self.followed)

    # start, stop, resume and follow

    def action_start(self) -> None:
        if self._training():
            self.notify("a run is going; stop it first (x)", severity="warning")
            return
        if self.finding_lr:
            self.notify("the lr finder is running; wait for it or stop it (x)", severity="warning")
            return
        if not self.apply_inputs():
            return
        config = self.workspace.config
        try:
            run = LaunchedRun.start(config, self.app.runs_dir)
        except OSError as exc:
            self.show_status("failed", f"could not start the training process: {exc}")
            return
        self._set_app_run(run)
        self.show_run(run, config)

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
        name = self.started.name if self.started else "the run"

        def answered(stop: bool | None) -> None:
            if stop and run.is_running:
                run.stop()
                self.show_status("stopping", "finishing the current step and saving last.pt")

        self.app.push_screen(Confirm("Stop training?", [f"{name} finishes its current step and saves last.pt",
                                                         "r resumes it from there later"], "Stop"), answered)

    def resumable(self) -> Path | None:
        """The followed run's directory when it has ended and can go on from its last.pt."""
        run = self.followed
        if run is None or run.is_running or run.run_dir is None or self.finding_lr:
            return None
        return run.run_dir if (run.run_dir / "checkpoints" / "last.pt").is_file() else None

    def action_resume(self) -> None:
        run_dir = self.resumable()
        if run_dir is None:
            self.notify("no stopped or finished run to resume")
            return
        done = self.finished.epochs_done if self.finished else max(self.epoch_events, default=0)
        total = self.total_epochs or done
        suggested = total if done < total else total + max(total, 1)  # stopped: the rest; finished: as many again

        def answered(text: str | None) -> None:
            if text is not None:
                self.resume(run_dir, text, done)

        self.app.push_screen(AskText(f"Resume {run_dir.name}: epochs in all ({done} of {total} done)",
                                     str(suggested)), answered)

    def resume(self, run_dir: Path, epochs_text: str, done: int) -> None:
        """Continue the run in `run_dir` (`workbench --resume`) up to `epochs_text` epochs in all."""
        try:
            epochs = int(epochs_text)
            if epochs < max(done, 1):
                raise ValueError
        except ValueError:
            self.notify(f"{epochs_text!r}: give a whole number of epochs, at least {max(done, 1)}", severity="error")
            return
        try:
            config = load_config(run_dir / "config.yaml", [f"train.epochs={epochs}"])
            run = LaunchedRun.start(config, self.app.runs_dir, resume=run_dir)
        except (WorkbenchError, OSError) as exc:
            self.show_status("failed", f"could not resume {run_dir.name}: {exc}")
            return
        self._set_app_run(run)
        self.show_run(run, config, keep_history=True)

    def show_run(self, run: LaunchedRun, config: RunConfig | None = None, keep_history: bool = False) -> None:
        """Show `run` from its first event on (a resumed run: after what is shown already)."""
        self.followed, self.run_config, self.finished = run, config, None
        if not keep_history:
            self.started = None
            self.reset_view()
        self.query_one("#run-progress", RunProgress).reset()  # a resumed run's speed is measured afresh
        if self.run_config is None and run.run_dir is not None:
            self.run_config = _run_config(run.run_dir)
        self.show_settings()
        self.show_status(run.state if not keep_history else "resuming", "waiting for the training process")
        self.clock.resume()
        self.refresh_bindings()
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
            self.refresh_bindings()

    def tick(self) -> None:
        """Every second while following: what the batches since the last tick changed is drawn (drawing on
        every event would take CPU from the training it shows), the time left counts down, the log grows."""
        self.redraw()
        self.query_one("#run-progress", RunProgress).show()
        self.tail_log()

    def redraw(self) -> None:
        """Draw the training loss's sparkline and the chart, if batches came since they were drawn."""
        if self.losses_drawn != len(self.losses):
            self.losses_drawn = len(self.losses)
            self.query_one("#train-loss", MetricChart).set_values([loss for _, loss in self.losses[-MAX_POINTS:]])
            self.draw_chart()

    # drawing

    def reset_view(self) -> None:
        self._clear_history()
        for chart in self.query(MetricChart).results(MetricChart):
            chart.set_values([])
        self.query_one("#epochs-table", DataTable).clear()
        self.query_one("#run-progress", RunProgress).reset()
        self.query_one("#run-log", Log).clear()
        self.query_one("#run-dir", Static).update("")
        self._show_warnings([])
        self.draw_chart()

    def apply_event(self, event: Event) -> None:
        progress = self.query_one("#run-progress", RunProgress)
        if isinstance(event, DataProgress):
            progress.data_progress(event)
            if self.started is None:
                self.show_status("running", f"preparing the data: {event.stage}")
        elif isinstance(event, RunStarted):
            progress.started(event)
            self._started(event)
            self.query_one(SystemPanel).clear()  # the figures are the new run's from its first epoch
        elif isinstance(event, RunResumed):
            progress.resumed(event)
            self._resumed(event)
        elif isinstance(event, BatchEnded):
            progress.batch_ended(event)
            self._batch_ended(event)
        elif isinstance(event, EpochEnded):
            progress.epoch_ended(event)
            self._epoch_ended(event)
            self.query_one(SystemPanel).show_epoch(event, self.run_config or self.workspace.config)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.finished = None

    def _started(self, event: RunStarted) -> None:
        self.started, self.total_epochs = event, event.epochs
        extras = f", {event.precision}" if event.precision != "fp32" else ""
        extras += ", compiled" if event.compiled else ""
        self.show_status("running", f"{event.name} on {event.device}: {event.train_samples} train / "
                                    f"{event.val_samples} val images, {len(event.classes)} classes, "
                                    f"{event.parameters:,} parameters{extras}")
        self.query_one("#run-dir", Static).update(f"run directory: {event.run_dir}")
        if self.run_config is None and event.run_dir:
            self.run_config = _run_config(Path(event.run_dir))
            self.show_settings()
        self._show_warnings(event.warnings)
        self.draw_chart()

    def _show_warnings(self, warnings: list[str]) -> None:
        box = self.query_one("#run-warnings", Static)
        box.update("\n".join(f"warning: {text}" for text in warnings))
        box.display = bool(warnings)

    def _resumed(self, event: RunResumed) -> None:
        """A resumed run redoes what came after its checkpoint: drop those epochs and losses."""
        self._drop_epochs_after(event.epoch)
        batches = self.started.batches_per_epoch if self.started else 0
        position = event.epoch + (event.batch / batches if batches else 0)
        self.losses = [point for point in self.losses if point[0] <= position]
        self.show_status("running", f"resumed after epoch {event.epoch}" + (f", batch {event.batch}" if event.batch
                                                                           else ""))
        self.draw_chart()

    def _batch_ended(self, event: BatchEnded) -> None:
        """Kept for the next tick to draw."""
        self.losses.append((event.epoch - 1 + event.batch / max(event.batches, 1), event.loss))
        if len(self.losses) > MAX_LOSS_POINTS:
            self.losses = self.losses[::2]
            self.losses_drawn = 0

    def _epoch_ended(self, event: EpochEnded) -> None:
        self._drop_epochs_after(event.epoch - 1)
        self.total_epochs = event.epochs
        self.epoch_events[event.epoch] = event
        before = self.best_epoch
        self.best_epoch = best_epoch(self.epoch_events)
        table = self.query_one("#epochs-table", DataTable)
        table.add_row(*self._epoch_cells(event), key=str(event.epoch))
        if before is not None and before != self.best_epoch and before in self.epoch_events:
            table.update_cell(str(before), "epoch", self._epoch_cells(self.epoch_events[before])[0])
        table.move_cursor(row=table.row_count - 1)
        self._show_sparklines()
        self.draw_chart()

    def _drop_epochs_after(self, epoch: int) -> None:
        later = [number for number in self.epoch_events if number > epoch]
        if not later:
            return
        table = self.query_one("#epochs-table", DataTable)
        for number in later:
            del self.epoch_events[number]
            table.remove_row(str(number))
        self.best_epoch = best_epoch(self.epoch_events)
        if self.best_epoch is not None:
            table.update_cell(str(self.best_epoch), "epoch", self._epoch_cells(self.epoch_events[self.best_epoch])[0])
        self._show_sparklines()

    def _show_sparklines(self) -> None:
        events = [self.epoch_events[number] for number in sorted(self.epoch_events)]
        self.query_one("#val-loss", MetricChart).set_values([event.val_loss for event in events])
        self.query_one("#val-accuracy", MetricChart).set_values([event.val_accuracy for event in events])

    def _epoch_cells(self, event: EpochEnded) -> tuple[Any, ...]:
        epoch = Text(f"{event.epoch}/{event.epochs}")
        if event.epoch == self.best_epoch:
            epoch.append(f" {BEST}", style="bold yellow")
        return (epoch, f"{event.train_loss:.4f}", f"{event.val_loss:.4f}", f"{event.val_accuracy:.1%}",
                f"{event.lr:.3g}", f"{event.seconds:.1f}s", f"{event.samples_per_second:,.0f}")

    def draw_chart(self) -> None:
        """The chart of the chosen metric: train vs val loss, or val accuracy; ★ at the best epoch."""
        epochs = [self.epoch_events[number] for number in sorted(self.epoch_events)]
        best = self.epoch_events.get(self.best_epoch) if self.best_epoch is not None else None
        mark = (best.epoch, f"best {best.val_accuracy:.1%} at epoch {best.epoch}") if best else None
        x_max = self.total_epochs or 1
        chart = self.query_one("#chart", LineChart)
        if self.metric == "loss":
            series = [Series("train", self.losses), Series("val", [(e.epoch, e.val_loss) for e in epochs], dots=True)]
            chart.plot("loss", series, x_max, None, mark, hint="c: accuracy")
        else:
            series = [Series("val accuracy", [(e.epoch, e.val_accuracy) for e in epochs], dots=True)]
            chart.plot("accuracy", series, x_max, "{:.0%}".format, mark, hint="c: loss")

    def tail_log(self) -> None:
        """Add what the followed run has written to its train.log since the last look."""
        run = self.followed
        if run is None or run.run_dir is None:
            return
        try:
            with (run.run_dir / "train.log").open("rb") as handle:
                if self.log_offset == 0:
                    handle.seek(0, 2)
                    self.log_offset = max(handle.tell() - LOG_FIRST_BYTES, 0)
                handle.seek(self.log_offset)
                chunk = handle.read()
        except OSError:
            return
        self.log_offset += len(chunk)
        *lines, self.log_partial = (self.log_partial + chunk).split(b"\n")
        if lines:
            self.query_one("#run-log", Log).write_lines(
                [_log_line(line.decode("utf-8", errors="replace")) for line in lines])

    def show_outcome(self, run: LaunchedRun) -> None:
        """The final status line of a run whose process has ended; a failure shows the log."""
        self.clock.pause()
        self.query_one("#run-progress", RunProgress).stopped()
        self.tail_log()
        done = self.finished
        if run.state in ("failed", "aborted", "ended unexpectedly") or done is None:
            error = (run.error_text or "").strip()
            self.show_status(run.state if run.state != "finished" else "failed", _error_summary(error))
            if run.run_dir is None and error:
                self.query_one("#run-log", Log).write_lines(error.splitlines())
            self.view = "log"
        elif done.status == "stopped":
            self.show_status("stopped", f"after {done.epochs_done} epoch(s), last.pt saved; r resumes it")
        else:
            best = f", best val acc {done.best_val_accuracy:.1%} at epoch {done.best_epoch}" if done.best_epoch else ""
            why = f" ({done.reason})" if done.reason else ""
            self.show_status("finished", f"{done.epochs_done} epoch(s) in {done.seconds:.0f}s{best}{why}; r extends")
        if run.run_dir is not None:
            self.query_one("#run-dir", Static).update(f"run directory: {run.run_dir}")
        self.show_settings()
        self.layout_panes()
        self.refresh_bindings()

    def show_idle(self) -> None:
        config = self.workspace.config
        self.show_status("ready", f"s trains {config.name} for {config.train.epochs} epoch(s) "
                                  f"on device {config.train.device}")

    def show_status(self, state: str, detail: str) -> None:
        status = self.query_one("#train-status", Static)
        status.update(f"{state}: {detail}" if detail else state)
        status.set_classes(f"state-{state.replace(' ', '-')}")


CHOICES = {**{key: table.names for key, table in TABLES.items()}, "precision": PRECISIONS}


def setting_values(config: RunConfig) -> dict[str, str]:
    """The value each setting widget (by id) shows for `config`."""
    train = config.train
    return {"epochs": str(train.epochs), "batch-size": str(config.data.batch_size), "lr": f"{train.optimizer.lr:g}",
            "device": train.device, **{key: getattr(train, key).name for key in TABLES}, "precision": train.precision}


def best_epoch(epochs: dict[int, EpochEnded]) -> int | None:
    """The epoch with the highest validation accuracy, the earliest of equals (as the engine keeps best.pt)."""
    best = None
    for number in sorted(epochs):
        if best is None or epochs[number].val_accuracy > epochs[best].val_accuracy:
            best = number
    return best


def _run_config(run_dir: Path) -> RunConfig | None:
    try:
        return load_config(run_dir / "config.yaml")
    except WorkbenchError:
        return None


def _error_summary(error: str) -> str:
    """What the status line says of a failure: the message, or a traceback's last line (the log has the rest)."""
    lines = error.splitlines()
    if lines and lines[0].startswith("Traceback"):
        return f"{lines[-1]} (the log has the traceback)"
    return error


def _log_line(line: str) -> str:
    """A train.log line with its timestamp cut to the time of day (2026-12-01T03:21:18+00:00 -> 03:21:18)."""
    stamp, _, rest = line.partition(" ")
    if len(stamp) >= 19 and stamp[4] == "-" and stamp[10] == "T":
        return f"{stamp[11:19]} {rest}"
    return line


def _choices(key: str, value: str) -> tuple[str, ...]:
    """The offered choices of a setting, with the config's value even when it is not one of them."""
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
