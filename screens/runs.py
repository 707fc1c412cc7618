"""The Runs screen: every run with its state and results, sortable, refreshed while runs are going.

Below the table, the selected run in brief (curves, config, checkpoints, evaluation); enter opens
all of it, `m` marks runs and `v` compares two (config differences and curves overlaid), `d`
deletes one after asking, `D` cleans up the runs that failed before their first epoch, and `b`
serves TensorBoard on the runs folder to this machine, with the SSH line to reach it from another.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from rich.console import JustifyMethod
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from core.columns import cells_width, fit_columns
from core.runs.history import (HistoryError, RunDetails, RunSummary, delete_run, describe_state, format_seconds,
                               list_runs, read_details)
from core.runs.rundir import RunDir, RunState
from screens.base import WorkbenchScreen
from screens.dialogs import Confirm
from screens.evaluate import EvaluateScreen
from screens.messages import ClassifyWith, FollowRun
from screens.run_views import CompareScreen, RunDetailsScreen, config_line, evaluation_line
from screens.widgets.metric_chart import MetricChart

REFRESH_SECONDS = 2.0  # while a run is going
METRIC_COLUMNS = ("epoch", "train loss", "val loss", "val acc")
CUT_AT = {"name": 20, "dataset": 14, "model": 14}  # long cells are cut to these only when the whole ones do not fit
WIDE = 110  # from this width the selected run's epochs are listed beside its brief
MARKS = "AB"  # the two runs marked for comparing, in the order they were marked
STATE_STYLES: dict[str, str] = {  # the rest red
    RunState.RUNNING: "bold green", RunState.FINISHED: "", RunState.STOPPED: "yellow", RunState.PRUNED: "yellow"}


@dataclass(frozen=True)
class RunColumn:
    key: str
    label: str
    cell: Callable[[RunSummary], str]
    sort: Callable[[RunSummary], Any]
    justify: JustifyMethod = "left"


def _best(summary: RunSummary) -> str:
    return f"{summary.best_val_accuracy:.1%}" if summary.best_val_accuracy is not None else "-"


def _epochs(summary: RunSummary) -> str:
    return f"{summary.epochs_done}/{summary.epochs}" if summary.epochs else str(summary.epochs_done)


def _started(summary: RunSummary) -> str:
    return summary.started[5:19].replace("T", " ")  # MM-DD HH:MM:SS: runs of one config differ; the year: details


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


COLUMNS = (
    RunColumn("state", "status", describe_state, lambda s: describe_state(s)),
    RunColumn("name", "name", lambda s: s.run_name or s.name, lambda s: (s.run_name or s.name).lower()),
    RunColumn("dataset", "dataset", lambda s: s.dataset or "-", lambda s: s.dataset.lower()),
    RunColumn("model", "model", lambda s: s.model or "-", lambda s: s.model.lower()),
    RunColumn("best", "best acc", _best, lambda s: s.best_val_accuracy if s.best_val_accuracy is not None else -1.0,
              "right"),
    RunColumn("epochs", "epochs", _epochs, lambda s: s.epochs_done, "right"),
    RunColumn("time", "time", lambda s: format_seconds(s.seconds), lambda s: s.seconds or 0.0, "right"),
    RunColumn("started", "started", _started, lambda s: s.started),
)
BY_KEY = {column.key: column for column in COLUMNS}
DROP_ORDER = ("time", "model", "dataset", "epochs", "started")  # narrow terminals: least important first
SORT_ORDER = ("started", "best", "name", "state", "epochs", "time", "dataset", "model")  # what `s` steps through


class RunsScreen(WorkbenchScreen):
    """Every training run, sortable: details, compare two, delete, TensorBoard; follow, classify or evaluate one."""

    MODE = "runs"
    CSS_PATH = "runs.tcss"
    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("enter", "details", "Details", priority=True, show=False,
                tooltip="Everything about the run: config, curves, checkpoints"),
        Binding("m", "mark", "Mark", tooltip="Mark the run for comparing (two at most)"),
        Binding("v", "compare", "Compare", tooltip="Compare two runs: config differences and curves overlaid"),
        Binding("d", "delete", "Delete", tooltip="Delete the run's directory, after asking"),
        Binding("b", "tensorboard", "TensorBoard", tooltip="Serve TensorBoard on the runs folder (127.0.0.1 only)"),
        Binding("t", "follow", "Follow", tooltip="Follow the running run live on the Train screen"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort by the next column (or click a column's header)"),
        Binding("c", "classify", "Classify with the run's model", show=False),
        Binding("e", "evaluate", "Evaluate the run's model", show=False),
        Binding("D", "clean_up", "Delete runs that failed early", show=False, key_display="D",
                tooltip="Delete every run that failed before its first epoch, after asking"),
        Binding("B", "stop_tensorboard", "Stop TensorBoard", show=False, key_display="B"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[RunSummary] = []
        self.marked: list[Path] = []
        self.sort_key, self.sort_reverse = "started", True
        self.shown_columns: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="tensorboard-line")
        with Horizontal(id="run-detail"):
            with Vertical(id="run-curves"):
                yield MetricChart("val acc", "{:.1%}".format, id="run-val-accuracy")
                yield MetricChart("val loss", id="run-val-loss")
                yield MetricChart("train loss", id="run-train-loss")
                yield Static("", id="run-files")
            yield DataTable(id="run-metrics", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#run-metrics", DataTable).add_columns(*METRIC_COLUMNS)
        self.query_one("#tensorboard-line", Static).display = False
        self.set_interval(REFRESH_SECONDS, self._refresh_while_running)

    def on_screen_resume(self) -> None:
        self.load_runs()
        self._show_tensorboard()

    def on_resize(self) -> None:
        self.query_one("#run-metrics", DataTable).display = self.size.width >= WIDE  # narrow: the brief has room
        self.call_after_refresh(self._fill_table)

    # the list

    def action_refresh(self) -> None:
        self.load_runs()

    def _refresh_while_running(self) -> None:
        """Reload the list (and the selected run) every few seconds while a run is going and the screen is shown."""
        running = any(summary.state == RunState.RUNNING for summary in self.summaries)
        if self.is_current and (running or self.app.followed.is_running):
            self.load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        summaries = list_runs(self.app.runs_dir)
        self.app.call_from_thread(self._show_runs, summaries)

    def _show_runs(self, summaries: list[RunSummary]) -> None:
        self.summaries = summaries
        present = {summary.path for summary in summaries}
        self.marked = [path for path in self.marked if path in present]
        self._fill_table()
        if not summaries:
            self.query_one("#run-files", Static).update(
                f"no runs in {self.app.runs_dir} yet: train one on screen 3 (s starts it)")
            self._show_metrics([])
        self.refresh_bindings()

    def sorted_summaries(self) -> list[RunSummary]:
        key = BY_KEY[self.sort_key].sort
        return sorted(self.summaries, key=lambda summary: (key(summary), summary.started), reverse=self.sort_reverse)

    def _fill_table(self) -> None:
        """(Re)build the table: the columns that fit, the rows in sort order, the cursor kept on its run."""
        table = self.query_one("#runs-table", DataTable)
        selected = self.selected
        rows = self.sorted_summaries()
        available = max(20, self.size.width - 2 - 3)  # the table spans the screen: less its scroll bar and marks
        cells = {summary.path: {column.key: column.cell(summary) for column in COLUMNS} for summary in rows}
        widths = self._widths(cells)
        if cells_width(widths, list(widths)) > available:
            cells = {path: {key: _cut(text, CUT_AT[key]) if key in CUT_AT else text for key, text in row.items()}
                     for path, row in cells.items()}
            widths = self._widths(cells)

        shown = fit_columns([c.key for c in COLUMNS], DROP_ORDER, lambda keys: cells_width(widths, keys) <= available)
        if shown != self.shown_columns:
            self.shown_columns = shown
            table.clear(columns=True)
            table.add_column(" ", key="mark", width=1)
            for key in shown:
                table.add_column(self._header(key), key=key)
        else:
            table.clear()
        for summary in rows:
            mark = self._mark(summary.path)
            table.add_row(Text(mark, style="bold reverse") if mark else "",
                          *(self._styled(summary, key, cells[summary.path][key]) for key in shown),
                          key=str(summary.path))
        if selected is not None and any(summary.path == selected.path for summary in rows):
            table.move_cursor(row=table.get_row_index(str(selected.path)), animate=False)
        self.show_selected()

    def _widths(self, cells: dict[Path, dict[str, str]]) -> dict[str, int]:
        return {column.key: max([len(column.label) + 2 * (column.key == self.sort_key),  # the sort arrow
                                 *(len(row[column.key]) for row in cells.values())]) for column in COLUMNS}

    def _header(self, key: str) -> Text:
        label = BY_KEY[key].label
        if key == self.sort_key:
            return Text(f"{label} {'▼' if self.sort_reverse else '▲'}", style="bold")
        return Text(label)

    def _styled(self, summary: RunSummary, key: str, text: str) -> Text:
        column = BY_KEY[key]
        style = ""
        if key == "state":
            style = STATE_STYLES.get(summary.state, "red")
        elif summary.failed_early:
            style = "dim"
        return Text(text, style=style, justify=column.justify)

    def _mark(self, path: Path) -> str:
        return MARKS[self.marked.index(path)] if path in self.marked else ""

    @property
    def selected(self) -> RunSummary | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((summary for summary in self.summaries if str(summary.path) == key), None)

    # the selected run in brief

    @on(DataTable.RowHighlighted, "#runs-table")
    def show_selected(self) -> None:
        summary = self.selected
        if summary is not None:
            self.load_detail(summary.path)

    @work(thread=True, exclusive=True, group="run-detail")
    def load_detail(self, run_dir: Path) -> None:
        details = read_details(run_dir)
        self.app.call_from_thread(self._show_detail, details)

    def _show_detail(self, details: RunDetails | None) -> None:
        if details is None:
            return
        metrics = details.metrics
        for chart_id, column in (("#run-val-accuracy", "val_accuracy"), ("#run-val-loss", "val_loss"),
                                 ("#run-train-loss", "train_loss")):
            self.query_one(chart_id, MetricChart).set_values([row[column] for row in metrics if column in row])
        self._show_metrics(metrics)
        self.query_one("#run-files", Static).update(brief_text(details))

    def _show_metrics(self, metrics: list[dict[str, float]]) -> None:
        table = self.query_one("#run-metrics", DataTable)
        table.clear()
        for row in metrics:
            table.add_row(f"{row.get('epoch', 0):.0f}", *(_number(row, key) for key in ("train_loss", "val_loss")),
                          f"{row['val_accuracy']:.1%}" if "val_accuracy" in row else "-")
        if metrics:
            table.move_cursor(row=len(metrics) - 1, animate=False)

    # actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Run actions need a run: the footer dims them until there is one (None), the rest hide (False)."""
        if action in ("details", "mark", "delete", "follow", "classify", "evaluate"):
            return True if self.selected is not None else None  # None: shown, dimmed
        if action == "compare":
            return True if len(self.summaries) >= 2 else None
        if action == "clean_up":
            return any(summary.failed_early for summary in self.summaries)
        if action == "stop_tensorboard":
            return self.app.tensorboard.is_running
        return super().check_action(action, parameters)

    def action_details(self) -> None:
        summary = self.selected
        if summary is not None:
            self.app.push_screen(RunDetailsScreen(summary.path, mode=self.MODE))

    def action_sort(self) -> None:
        """Sort by the next column in SORT_ORDER (newest, best and longest first)."""
        following = SORT_ORDER[(SORT_ORDER.index(self.sort_key) + 1) % len(SORT_ORDER)]
        self._sort_by(following, reverse=following in ("started", "best", "epochs", "time"))

    @on(DataTable.HeaderSelected, "#runs-table")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in BY_KEY:
            self._sort_by(key, reverse=not self.sort_reverse if key == self.sort_key else key in ("started", "best"))

    def _sort_by(self, key: str, reverse: bool) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self.shown_columns = []  # new headers
        self._fill_table()
        self.notify(f"sorted by {BY_KEY[key].label}{' (descending)' if reverse else ''}", timeout=2)

    def action_mark(self) -> None:
        """Mark (or unmark) the selected run for comparing; a third mark replaces the oldest."""
        summary = self.selected
        if summary is None:
            return
        if summary.path in self.marked:
            self.marked.remove(summary.path)
        else:
            self.marked = [*self.marked, summary.path][-len(MARKS):]
        self._fill_table()

    def action_compare(self) -> None:
        """Compare the two marked runs (or the marked one and the selected one)."""
        pair = list(self.marked)
        selected = self.selected
        if len(pair) == 1 and selected is not None and selected.path not in pair:
            pair.append(selected.path)
        if len(pair) != 2:
            self.notify("mark two runs with m (or one, then select the other), then v compares them")
            return
        self.app.push_screen(CompareScreen(pair[0], pair[1], mode=self.MODE))

    def action_delete(self) -> None:
        summary = self.selected
        if summary is None:
            return
        if summary.state == RunState.RUNNING:
            self.notify(f"{summary.name} is running; stop it first (t follows it, then x)", severity="warning")
            return
        about = [str(summary.path), f"{describe_state(summary)}, {_epochs(summary)} epochs, best {_best(summary)}",
                 "its checkpoints, logs and TensorBoard files go too; this cannot be undone"]
        self.app.push_screen(Confirm(f"Delete run {summary.name}?", about, "Delete"),
                             partial(self._delete_if, [summary.path]))

    def action_clean_up(self) -> None:
        """Delete every run that failed before its first epoch, after asking."""
        failed = [summary for summary in self.summaries if summary.failed_early]
        if not failed:
            self.notify("no run failed before its first epoch")
            return
        names = [f"{summary.name}: {_cut(summary.error or describe_state(summary), 60)}" for summary in failed[:8]]
        if len(failed) > 8:
            names.append(f"and {len(failed) - 8} more")
        self.app.push_screen(Confirm(f"Delete {len(failed)} run(s) that failed before their first epoch?", names,
                                     "Delete"),
                             partial(self._delete_if, [summary.path for summary in failed]))

    def _delete_if(self, paths: list[Path], confirmed: bool | None) -> None:
        if confirmed:
            self.delete_runs(paths)

    @work(thread=True, exclusive=True, group="delete")
    def delete_runs(self, paths: list[Path]) -> None:
        deleted, problems = 0, []
        for path in paths:
            try:
                delete_run(self.app.runs_dir, path)
                deleted += 1
            except HistoryError as exc:
                problems.append(str(exc))
        self.app.call_from_thread(self._deleted, deleted, problems)

    def _deleted(self, deleted: int, problems: list[str]) -> None:
        if deleted:
            self.notify(f"deleted {deleted} run(s)")
        for problem in problems:
            self.notify(problem, severity="error")
        self.load_runs()

    async def action_follow(self) -> None:
        """Show the selected run, if it is still going, live on the Train screen."""
        summary = self.selected
        if summary is None:
            return
        if summary.state != RunState.RUNNING:
            self.notify(f"{summary.name} is not running ({describe_state(summary)})", severity="warning")
            return
        self.post_message(FollowRun(summary.path))

    def action_classify(self) -> None:
        """Open the selected run's best checkpoint (else its last) on the Classify screen."""
        checkpoint = self.selected_checkpoint()
        if checkpoint is not None:
            self.post_message(ClassifyWith(checkpoint))

    def action_evaluate(self) -> None:
        """Score the selected run's best checkpoint (else its last) on its validation images, saved in the run."""
        summary, checkpoint = self.selected, self.selected_checkpoint()
        if summary is not None and checkpoint is not None:
            self.app.push_screen(EvaluateScreen(checkpoint, run_dir=summary.path, mode=self.MODE))

    def selected_checkpoint(self) -> Path | None:
        """The selected run's best checkpoint, else its last; None (and a warning) when it saved none."""
        summary = self.selected
        checkpoints = RunDir(summary.path).checkpoints() if summary else []
        if not checkpoints:
            self.notify("this run has saved no checkpoint", severity="warning")
            return None
        return checkpoints[0]

    # TensorBoard

    def action_tensorboard(self) -> None:
        """Start TensorBoard on the runs folder (once), and show where to reach it."""
        server = self.app.tensorboard
        if server.is_running:
            self._show_tensorboard(announce=True)
            return
        try:
            server.start()
        except OSError as exc:
            self.notify(f"could not start TensorBoard: {exc}", severity="error")
            return
        self._show_tensorboard()
        self.query_one("#tensorboard-line", Static).update(f"starting TensorBoard on {self.app.runs_dir} …")
        self._wait_for_tensorboard()

    @work(thread=True, exclusive=True, group="tensorboard")
    def _wait_for_tensorboard(self) -> None:
        ready = self.app.tensorboard.wait_ready()
        self.app.call_from_thread(self._tensorboard_ready, ready)

    def _tensorboard_ready(self, ready: bool) -> None:
        if ready:
            self._show_tensorboard(announce=True)
        else:
            why = self.app.tensorboard.output_tail().splitlines()[-1:] or ["it did not start"]
            self.app.tensorboard.stop()
            self._show_tensorboard()
            self.notify(f"TensorBoard did not start: {why[0]}", severity="error", timeout=10)
        self.refresh_bindings()

    def action_stop_tensorboard(self) -> None:
        self.app.tensorboard.stop()
        self._show_tensorboard()
        self.notify("TensorBoard stopped")
        self.refresh_bindings()

    def _show_tensorboard(self, announce: bool = False) -> None:
        server = self.app.tensorboard
        line = self.query_one("#tensorboard-line", Static)
        line.display = server.is_running
        if server.is_running:
            line.update(Text.assemble(("TensorBoard ", "bold"), (server.url, "bold underline"),
                                      " (this machine only; stops when you quit)\nelsewhere: ",
                                      (server.tunnel, "bold"), ", then open the same URL"))
        if announce and server.is_running:
            self.notify(f"{server.url}\nfrom another machine: {server.tunnel}", title="TensorBoard", timeout=15)


def brief_text(details: RunDetails) -> Text:
    """The selected run in a few lines: where, how it went, its config, checkpoints and evaluation."""
    summary = details.summary
    text = Text.assemble((summary.name, "bold"), f"  {describe_state(summary)}")
    if summary.seconds is not None:
        text.append(f" after {format_seconds(summary.seconds)}")
    text.append(f", started {summary.started[:16].replace('T', ' ')}")
    if details.config is not None:
        text.append("\n" + config_line(details.config))
    if details.checkpoints:
        text.append("\ncheckpoints: " + ", ".join(f"{c.kind}.pt" for c in details.checkpoints))
    if details.evaluation is not None:
        text.append("\n" + evaluation_line(details.evaluation))
    if summary.error:
        text.append(f"\nerror: {summary.error.strip().splitlines()[-1]}", style="red")
    hint = "D deletes the runs that failed early" if summary.failed_early else "m marks two runs, v compares them"
    text.append(f"\nenter: all of it · {hint}", style="dim")
    return text


def _number(row: dict[str, float], key: str) -> str:
    return f"{row[key]:.4f}" if key in row else "-"
