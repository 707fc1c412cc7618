"""The Train screen's live view of the app's followed run: status line, progress, sparklines, chart, epochs, log.

The run belongs to the app (`app.followed`); the monitor reads it, follows its events in a worker
and keeps only what it draws from them. A crash, an out-of-memory or a bad config in the child only
ever becomes a "failed" status with the run's log beside it.

At 80x24 the lower pane shows one of the chart, the epoch table and the log (`v` switches); a
terminal WIDE_COLUMNS wide shows chart and epochs side by side, and TALL_ROWS high the log too.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import DataTable, Log, Static
from textual.worker import Worker, WorkerState

from core.config import RunConfig, load_config
from core.errors import WorkbenchError
from core.runs.launch import LaunchedRun
from core.runs.rundir import RunDir, RunState
from core.train.describe import describe, epochs_and_time
from core.train.events import (BatchEnded, BudgetPlanned, DataProgress, EpochEnded, Event, RunFailed, RunFinished,
                               RunResumed, RunStarted)
from core.train.system import SystemMonitor
from screens.base import AppBase
from screens.widgets.line_chart import LineChart, Series
from screens.widgets.metric_chart import MetricChart
from screens.widgets.run_progress import RunProgress
from screens.widgets.system_panel import SystemPanel

EPOCH_COLUMNS = (("epoch", "epoch"), ("train_loss", "train loss"), ("val_loss", "val loss"),
                 ("val_accuracy", "val acc"), ("lr", "lr"), ("time", "time"), ("speed", "samples/s"))
WIDE_COLUMNS = 160  # from this terminal width the chart and the epoch table sit side by side
TALL_ROWS = 40  # from this terminal height (and WIDE_COLUMNS) the log is shown under them
VIEWS = ("chart", "epochs", "log")  # the lower pane's views, in the order `v` steps through them
METRICS = ("loss", "accuracy")  # what the chart plots, in the order `c` steps through them
MAX_LOSS_POINTS = 4000  # batch losses kept for the chart; beyond, every other one is dropped
MAX_POINTS = 500  # of them, the training loss's sparkline shows the latest
LOG_LINES = 500
LOG_FIRST_BYTES = 64_000  # of a long train.log, only the end is read when following starts
BEST = "★"


class RunMonitor(Vertical):
    """The followed run as it goes: what it does, its progress and time left, its curves, epochs and log."""

    app = getters.app(AppBase)

    class RunChanged(Message):
        """The followed run's config became known or its process ended: the form and the keys follow."""

    shown: LaunchedRun | None = None  # which of the app's runs the view is drawn from (the app keeps the run)
    run_config: RunConfig | None = None  # the followed run's own config, once known
    started: RunStarted | None = None  # its latest start event
    finished: RunFinished | None = None  # its last event, once it has one

    def __init__(self) -> None:
        super().__init__()
        self.view, self.metric = "chart", "loss"
        self._clear_history()

    def _clear_history(self) -> None:
        self.losses: list[tuple[float, float]] = []  # (epoch position, train loss) per reported batch
        self.losses_drawn = 0  # how many of them the chart shows
        self.epoch_events: dict[int, EpochEnded] = {}
        self.best_epoch: int | None = None
        self.total_epochs = 0
        self.log_offset, self.log_partial = 0, b""

    def compose(self) -> ComposeResult:
        yield Static("", id="train-status")
        yield Static("", id="run-warnings", classes="warning")
        yield RunProgress(id="run-progress")
        yield SystemPanel(id="system-panel")
        with Vertical(id="sparklines"):
            yield MetricChart("train loss", id="train-loss")
            yield MetricChart("val loss", id="val-loss")
            yield MetricChart("val acc", "{:.1%}".format, id="val-accuracy")
        with Grid(id="panes"):  # laid out for the terminal at once: a hidden pane must never take the first Tab
            yield LineChart(id="chart")
            yield DataTable(id="epochs-table", cursor_type="row", zebra_stripes=True)
            yield Log(id="run-log", max_lines=LOG_LINES)
        yield Static("", id="run-dir", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one("#epochs-table", DataTable)
        for key, label in EPOCH_COLUMNS:
            table.add_column(label, key=key)
        self.clock = self.set_interval(1.0, self.tick, pause=True)
        self.layout_panes()
        self.draw_chart()

    @property
    def behind(self) -> bool:
        """Whether the app follows a run this view was not drawn from (the Runs screen attached it meanwhile)."""
        run = self.app.followed.run
        return run is not None and run is not self.shown

    @property
    def epochs_done(self) -> int:
        return self.finished.epochs_done if self.finished else max(self.epoch_events, default=0)

    @property
    def run_name(self) -> str:
        return self.started.name if self.started else "the run"

    # the lower pane's views

    def next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        if self._wide() and not self._tall() and self.view == "epochs":
            self.view = "log"  # chart and epochs are one view there
        self.layout_panes()

    def next_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self.draw_chart()
        if not self.query_one("#chart", LineChart).display:
            self.view = "chart"
            self.layout_panes()

    def _wide(self) -> bool:
        return self.app.size.width >= WIDE_COLUMNS

    def _tall(self) -> bool:
        return self.app.size.height >= TALL_ROWS

    def layout_panes(self) -> None:
        """Show the lower pane's views that fit the terminal (the screen calls this when it is resized)."""
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
            self.query_one(widget_id).display = view in shown
        focused = self.screen.focused
        if focused is not None and focused.parent is panes and not focused.display:
            self.screen.set_focus(None)

    # following the app's run

    def show_run(self, config: RunConfig | None = None, resumed: bool = False) -> None:
        """Show the app's followed run from its first event on (a resumed run: after what is shown already)."""
        run = self.app.followed.run
        assert run is not None, "the app follows no run"
        self.shown, self.run_config, self.finished = run, config, None
        if not resumed:
            self.started = None
            self.reset_view()
        self.query_one(RunProgress).reset()  # a resumed run's speed is measured afresh
        if self.run_config is None and run.run_dir is not None:
            self.run_config = _run_config(run.run_dir)
        self.show_status(run.state if not resumed else "resuming", "waiting for the training process")
        self.clock.resume()
        self.query_one(SystemPanel).start_live(SystemMonitor(pid=run.pid).sample)
        self.follow(run)

    @work(exclusive=True, group="follow", exit_on_error=False)
    async def follow(self, run: LaunchedRun) -> None:
        async for event in run.follow():
            self.apply_event(event)
        self.show_outcome(run)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "follow":
            self.show_status(RunState.FAILED, f"lost track of the run: {event.worker.error}")

    def apply_event(self, event: Event) -> None:
        """Take in one event of the run: the status line and progress at once, the curves at the next tick."""
        progress = self.query_one(RunProgress)
        match event:
            case DataProgress():
                progress.data_progress(event)
                if self.started is None:
                    self.show_status(RunState.RUNNING, f"preparing the data: {event.stage}")
            case RunStarted():
                self.finished = None  # a resumed run goes on: an earlier ending in its events is history
                progress.started(event)
                self.show_running(event)
                self._started(event)
                self.query_one(SystemPanel).clear()  # the figures are the new run's from its first epoch
            case RunResumed():
                progress.resumed(event)
                self.show_running(event)
                self._resumed(event)
            case BudgetPlanned():
                progress.planned(event)
                self.total_epochs = math.ceil(event.epochs)
                self.show_running(event)
            case BatchEnded():
                progress.batch_ended(event)
                self._keep_loss(event)
            case EpochEnded():
                progress.epoch_ended(event)
                self._epoch_ended(event)
                self.query_one(SystemPanel).show_epoch(event, self.run_config or self.app.workspace.config)
            case RunFinished():
                self.finished = event
            case RunFailed():
                self.finished = None

    def _started(self, event: RunStarted) -> None:
        self.started, self.total_epochs = event, event.epochs
        self.query_one("#run-dir", Static).update(f"run directory: {event.run_dir}")
        if self.run_config is None and event.run_dir:
            self.run_config = _run_config(Path(event.run_dir))
            self.post_message(self.RunChanged())
        self._show_warnings(event.warnings)
        self.draw_chart()

    def _resumed(self, event: RunResumed) -> None:
        """A resumed run redoes what came after its checkpoint: drop those epochs and losses."""
        self._drop_epochs_after(event.epoch)
        batches = self.started.batches_per_epoch if self.started else 0
        position = event.epoch + (event.batch / batches if batches else 0)
        self.losses = [point for point in self.losses if point[0] <= position]
        self.draw_chart()

    def _keep_loss(self, event: BatchEnded) -> None:
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

    def show_outcome(self, run: LaunchedRun) -> None:
        """The final status line of a run whose process has ended; a failure shows the log."""
        self.clock.pause()
        self.redraw()  # the batches since the last tick: a run that ends within a second of them still shows them
        self.query_one(SystemPanel).stop_live()
        self.query_one(RunProgress).stopped()
        self.tail_log()
        done, state = self.finished, RunState(run.state)
        if state.failed or done is None:
            error = (run.error_text or "").strip()
            self.show_status(state if state != RunState.FINISHED else RunState.FAILED, _error_summary(error))
            if run.run_dir is None and error:
                self.query_one("#run-log", Log).write_lines(error.splitlines())
            self.view = "log"
        elif done.status == RunState.STOPPED:
            self.show_status(RunState.STOPPED, f"after {done.epochs_done} epoch(s), last.pt saved; r resumes it")
        else:
            best = f", best val acc {done.best_val_accuracy:.1%} at epoch {done.best_epoch}" if done.best_epoch else ""
            why = f" ({done.reason})" if done.reason else ""
            self.show_status(RunState.FINISHED, f"{epochs_and_time(done)}{best}{why}; r extends")
        if run.run_dir is not None:
            self.query_one("#run-dir", Static).update(f"run directory: {run.run_dir}")
        self.layout_panes()
        self.post_message(self.RunChanged())

    # drawing

    def tick(self) -> None:
        """Every second while following: what the batches since the last tick changed is drawn (drawing on
        every event would take CPU from the training it shows), the time left counts down, the log grows."""
        self.redraw()
        self.query_one(RunProgress).show()
        self.tail_log()

    def redraw(self) -> None:
        """Draw the training loss's sparkline and the chart, if batches came since they were drawn."""
        if self.losses_drawn != len(self.losses):
            self.losses_drawn = len(self.losses)
            self.query_one("#train-loss", MetricChart).set_values([loss for _, loss in self.losses[-MAX_POINTS:]])
            self.draw_chart()

    def reset_view(self) -> None:
        self._clear_history()
        for chart in self.query(MetricChart).results(MetricChart):
            chart.set_values([])
        self.query_one("#epochs-table", DataTable).clear()
        self.query_one(RunProgress).reset()
        self.query_one("#run-log", Log).clear()
        self.query_one("#run-dir", Static).update("")
        self._show_warnings([])
        self.draw_chart()

    def _show_warnings(self, warnings: list[str]) -> None:
        box = self.query_one("#run-warnings", Static)
        box.update("\n".join(f"warning: {text}" for text in warnings))
        box.display = bool(warnings)

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
        run = self.app.followed.run
        if run is None or run.run_dir is None:
            return
        try:
            with RunDir(run.run_dir).log_path.open("rb") as handle:
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

    # the status line

    def show_idle(self) -> None:
        config, train = self.app.workspace.config, self.app.workspace.config.train
        length = f"for {train.epochs} epoch(s)" if train.budget is None else (
            f"within {train.budget} (at most {train.epochs} epochs)")
        self.show_status("ready", f"s trains {config.name} {length} on device {train.device}")

    def show_running(self, event: Event) -> None:
        """The event's one line (as in train.log and the console), after the state the status line starts with."""
        self.show_status(RunState.RUNNING, describe(event).removeprefix("run "))

    def show_status(self, state: str, detail: str) -> None:
        status = self.query_one("#train-status", Static)
        status.update(f"{state}: {detail}" if detail else state)
        status.set_classes(f"state-{state.replace(' ', '-')}")


def best_epoch(epochs: dict[int, EpochEnded]) -> int | None:
    """The epoch with the highest validation accuracy, the earliest of equals (as the engine keeps best.pt)."""
    best = None
    for number in sorted(epochs):
        if best is None or epochs[number].val_accuracy > epochs[best].val_accuracy:
            best = number
    return best


def _run_config(run_dir: Path) -> RunConfig | None:
    try:
        return load_config(RunDir(run_dir).config_path)
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
