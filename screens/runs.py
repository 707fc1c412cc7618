"""The Runs screen: every run directory with its state and best accuracy; the selected run's curves and files."""
from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from core.history import RunSummary, checkpoint_paths, list_runs, read_metrics
from core.launch import LaunchedRun, LaunchError
from screens.base import WorkbenchScreen
from screens.classify import ClassifyScreen
from screens.evaluate import EvaluateScreen
from screens.widgets.metric_chart import MetricChart

RUN_COLUMNS = ("run", "state", "epochs", "best acc", "started")
METRIC_COLUMNS = ("epoch", "train loss", "val loss", "val acc")


class RunsScreen(WorkbenchScreen):
    """Every training run, newest first: follow a running one, classify or evaluate with a finished one's model."""

    MODE = "runs"
    CSS_PATH = "runs.tcss"
    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("t", "follow", "Follow", tooltip="Follow the running run live in Train"),
        Binding("c", "classify", "Classify", tooltip="Classify images with the run's model"),
        Binding("e", "evaluate", "Evaluate", tooltip="Score the run's model on its validation images"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: dict[str, RunSummary] = {}

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="run-detail"):
            with Vertical(id="run-curves"):
                yield MetricChart("val acc", "{:.1%}".format, id="run-val-accuracy")
                yield MetricChart("val loss", id="run-val-loss")
                yield MetricChart("train loss", id="run-train-loss")
                yield Static("", id="run-files")
            yield DataTable(id="run-metrics", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        runs = self.query_one("#runs-table", DataTable)
        for column in RUN_COLUMNS:
            runs.add_column(column, key=column)
        self.query_one("#run-metrics", DataTable).add_columns(*METRIC_COLUMNS)

    def on_screen_resume(self) -> None:
        self.load_runs()

    def action_refresh(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        summaries = list_runs(self.app.runs_dir)
        self.app.call_from_thread(self._show_runs, summaries)

    def _show_runs(self, summaries: list[RunSummary]) -> None:
        table = self.query_one("#runs-table", DataTable)
        selected = self.selected
        self.summaries = {str(summary.path): summary for summary in summaries}
        table.clear()
        for summary in summaries:
            table.add_row(*_cells(summary), key=str(summary.path))
        if selected is not None and str(selected.path) in self.summaries:
            table.move_cursor(row=table.get_row_index(str(selected.path)))
        if not summaries:
            self.query_one("#run-files", Static).update(f"no runs in {self.app.runs_dir} yet: train one on screen 3")
        self.show_selected()

    @property
    def selected(self) -> RunSummary | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.summaries.get(key)

    @on(DataTable.RowHighlighted, "#runs-table")
    def show_selected(self) -> None:
        summary = self.selected
        if summary is not None:
            self.load_detail(summary)

    @work(thread=True, exclusive=True, group="run-detail")
    def load_detail(self, summary: RunSummary) -> None:
        metrics = read_metrics(summary.path)
        self.app.call_from_thread(self._show_detail, summary, metrics, checkpoint_paths(summary.path))

    def _show_detail(self, summary: RunSummary, metrics: list[dict[str, float]], checkpoints: list[Path]) -> None:
        for chart_id, column in (("#run-val-accuracy", "val_accuracy"), ("#run-val-loss", "val_loss"),
                                 ("#run-train-loss", "train_loss")):
            self.query_one(chart_id, MetricChart).set_values([row[column] for row in metrics if column in row])
        table = self.query_one("#run-metrics", DataTable)
        table.clear()
        for row in metrics:
            table.add_row(f"{row.get('epoch', 0):.0f}", *(_number(row, key) for key in ("train_loss", "val_loss")),
                          f"{row['val_accuracy']:.1%}" if "val_accuracy" in row else "-")
        self.query_one("#run-files", Static).update(_files_text(summary, checkpoints))

    async def action_follow(self) -> None:
        """Show the selected run, if it is still going, live on the Train screen."""
        summary = self.selected
        if summary is None:
            return
        current = self.app.training
        if current is None or current.run_dir != summary.path.resolve() or not current.is_running:
            try:
                self.app.training = LaunchedRun.attach(summary.path)
            except LaunchError as exc:
                self.notify(str(exc), severity="warning")
                return
        await self.app.switch_mode("train")

    async def action_classify(self) -> None:
        """Open the selected run's best checkpoint (else its last) on the Classify screen."""
        checkpoint = self.selected_checkpoint()
        if checkpoint is None:
            return
        await self.app.switch_mode("classify")
        if isinstance(self.app.screen, ClassifyScreen):
            self.app.screen.use_checkpoint(checkpoint)

    def action_evaluate(self) -> None:
        """Score the selected run's best checkpoint (else its last) on its validation images, saved in the run."""
        checkpoint = self.selected_checkpoint()
        if checkpoint is not None:
            self.app.push_screen(EvaluateScreen(checkpoint, run_dir=self.selected.path, mode=self.MODE))

    def selected_checkpoint(self) -> Path | None:
        """The selected run's best checkpoint, else its last; None (and a warning) when it saved none."""
        summary = self.selected
        checkpoints = checkpoint_paths(summary.path) if summary else []
        if not checkpoints:
            self.notify("this run has saved no checkpoint", severity="warning")
            return None
        return checkpoints[0]


def _cells(summary: RunSummary) -> tuple[str, ...]:
    epochs = f"{summary.epochs_done}/{summary.epochs}" if summary.epochs else str(summary.epochs_done)
    best = f"{summary.best_val_accuracy:.1%}" if summary.best_val_accuracy is not None else "-"
    return summary.name, summary.state, epochs, best, summary.started[:16].replace("T", " ")


def _number(row: dict[str, float], key: str) -> str:
    return f"{row[key]:.4f}" if key in row else "-"


def _files_text(summary: RunSummary, checkpoints: list[Path]) -> str:
    files = ["config.yaml", *(str(path.relative_to(summary.path)) for path in checkpoints)]
    lines = [str(summary.path), "files: " + ", ".join(files)]
    if summary.error:
        lines.append(f"error: {summary.error}")
    return "\n".join(lines)
