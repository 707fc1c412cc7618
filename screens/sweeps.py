"""The Sweeps screen: the studies in the runs folder and, for the selected one, its trials, best-so-far and
which parameters matter.

The trial table sorts by any column (`s`, or a click on its header): value, state, duration and
every sampled parameter. Below it, the best value so far over the trials (a chart with axes) and
the parameters' importances (Optuna's fANOVA, computed in a thread). `n` starts a sweep of the
config being edited as a detached process (it survives the app), `x` stops it, enter opens a
trial's run, and `a` applies the best trial's values to the config being edited.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from core.errors import WorkbenchError
from core.runs.rundir import RunState
from core.sweep.launch import is_sweeping, log_tail, start_sweep, stop_sweep
from core.sweep.space import SweepSpec, with_values
from core.sweep.study import StudyFolder, list_studies
from core.sweep.summary import StudySummary, TrialRow, importances, read_summary
from screens.base import WorkbenchScreen
from screens.run_views import RunDetailsScreen
from screens.widgets.line_chart import LineChart, Series

REFRESH_SECONDS = 2.0
BAR_WIDTH = 10  # an importance's bar, in cells


@dataclass(frozen=True)
class TrialColumn:
    key: str
    label: str
    cell: Callable[[TrialRow], str]
    sort: Callable[[TrialRow], Any]


def _value(row: TrialRow) -> str:
    return f"{row.value:.4g}" if row.value is not None else "-"


def _duration(row: TrialRow) -> str:
    return f"{row.duration:.0f}s" if row.duration is not None else "-"


FIXED_COLUMNS = (
    TrialColumn("number", "#", lambda row: str(row.number), lambda row: row.number),
    TrialColumn("state", "state", lambda row: row.state, lambda row: row.state),
    TrialColumn("value", "value", _value, lambda row: row.value if row.value is not None else float("-inf")),
    TrialColumn("duration", "time", _duration, lambda row: row.duration or 0.0),
)


def param_column(key: str) -> TrialColumn:
    """A sampled parameter's column, labelled by its last key part (`train.optimizer.lr` -> `lr`)."""
    def cell(row: TrialRow) -> str:
        value = row.params.get(key)
        return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)

    return TrialColumn(key, key.rsplit(".", 1)[-1], cell, lambda row: (str(type(row.params.get(key))),
                                                                         row.params.get(key, 0)))


class SweepsScreen(WorkbenchScreen):
    """The studies, a study's trials sortable, its best-so-far curve and parameter importances."""

    MODE = "sweeps"
    CSS_PATH = "sweeps.tcss"
    AUTO_FOCUS = "#trials-table"
    BINDINGS = [
        Binding("n", "start", "Sweep", tooltip="Sweep the config being edited (its sweep: block), detached"),
        Binding("x", "stop", "Stop", tooltip="Stop the selected study's sweep (the trial in progress keeps last.pt)"),
        Binding("a", "apply_best", "Apply best", tooltip="Set the best trial's values in the config being edited"),
        Binding("s", "sort", "Sort", tooltip="Sort the trials by the next column (or click a column's header)"),
        Binding("enter", "open_run", "Open the trial's run", priority=True, show=False),
        Binding("w", "next_study", "Next study", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.studies: list[StudyFolder] = []
        self.study: StudyFolder | None = None
        self.summary: StudySummary | None = None
        self.spec: SweepSpec | None = None
        self.columns: list[TrialColumn] = list(FIXED_COLUMNS)
        self.sort_key, self.sort_reverse = "number", False
        self.importance_of = -1  # the finished trials the importances shown were computed from

    def compose_body(self) -> ComposeResult:
        yield Static("", id="study-line")
        yield DataTable(id="trials-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="study-detail"):
            yield LineChart(id="best-chart")
            yield Static("", id="importances")

    def on_mount(self) -> None:
        self.set_interval(REFRESH_SECONDS, self._refresh_if_shown)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    def _refresh_if_shown(self) -> None:
        if self.is_current:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    # reading

    def load(self) -> None:
        self.studies = list_studies(self.app.runs_dir)
        names = [folder.name for folder in self.studies]
        if self.study is None or self.study.name not in names:
            self.study = self.studies[0] if self.studies else None
        self._show_study()

    def _show_study(self) -> None:
        line = self.query_one("#study-line", Static)
        if self.study is None:
            self.summary = None
            line.update("no studies yet: n sweeps the config being edited (it needs a sweep: block)")
            self._fill_table()
            self._plot()
            return
        self.summary = read_summary(self.study)
        block = self.study.read_study().get("sweep")
        self.spec = SweepSpec.model_validate(block) if isinstance(block, dict) else None
        keys = list(self.spec.space) if self.spec is not None else sorted({k for r in self.summary.trials
                                                                            for k in r.params})
        self.columns = [*FIXED_COLUMNS, *map(param_column, keys)]
        line.update(self._study_text(self.study, self.summary))
        self._fill_table()
        self._plot()
        complete = sum(row.state == RunState.FINISHED for row in self.summary.trials)
        if self.spec is not None and complete != self.importance_of:
            self.importance_of = complete
            self._compute_importances(self.summary, self.spec)

    def _study_text(self, study: StudyFolder, summary: StudySummary) -> Text:
        others = f"  ({len(self.studies)} studies, w: next)" if len(self.studies) > 1 else ""
        text = Text(f"{study.name}", style="bold")
        text.append(f"  {summary.metric} {summary.direction}  {summary.finished} finished")
        best = summary.best
        if best is not None:
            text.append(f"  best #{best.number}: {best.value:.4g}")
        if is_sweeping(study):
            text.append("  sweeping", style="bold green")
        text.append(others)
        return text

    def _fill_table(self) -> None:
        table = self.query_one("#trials-table", DataTable)
        selected = self.selected()
        table.clear(columns=True)
        for column in self.columns:
            arrow = (" ▼" if self.sort_reverse else " ▲") if column.key == self.sort_key else ""
            table.add_column(column.label + arrow, key=column.key)
        rows = self.sorted_rows()
        for row in rows:
            table.add_row(*(column.cell(row) for column in self.columns), key=str(row.number))
        if selected is not None:
            numbers = [row.number for row in rows]
            if selected.number in numbers:
                table.move_cursor(row=numbers.index(selected.number))

    def sorted_rows(self) -> list[TrialRow]:
        if self.summary is None:
            return []
        column = next((column for column in self.columns if column.key == self.sort_key), FIXED_COLUMNS[0])
        return sorted(self.summary.trials, key=column.sort, reverse=self.sort_reverse)

    def selected(self) -> TrialRow | None:
        table = self.query_one("#trials-table", DataTable)
        if self.summary is None or not table.row_count:
            return None
        number = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert number is not None  # every row is added with its trial's number as its key
        return next((row for row in self.summary.trials if row.number == int(number)), None)

    def _plot(self) -> None:
        chart = self.query_one("#best-chart", LineChart)
        summary = self.summary
        points = summary.best_so_far() if summary is not None else []
        last = max((row.number for row in summary.trials), default=1) if summary is not None else 1
        title = f"best {summary.metric} so far" if summary is not None else "best so far"
        chart.plot(title, [Series("best", [(float(n), value) for n, value in points], dots=True)], last,
                   x_label="trial")
        if summary is None or not points:
            self.query_one("#importances", Static).update("importances: after two finished trials")

    @work(thread=True, exclusive=True, group="importances")
    def _compute_importances(self, summary: StudySummary, spec: SweepSpec) -> None:
        try:
            found = importances(summary, spec)
        except Exception as exc:  # noqa: BLE001 - an evaluator's failure is shown, never fatal to the screen
            found, note = {}, f"importances: {type(exc).__name__}"
        else:
            note = "importances: after two finished trials"
        self.app.call_from_thread(self._show_importances, found, note)

    def _show_importances(self, found: dict[str, float], note: str) -> None:
        if not found:
            self.query_one("#importances", Static).update(note)
            return
        text = Text("importance\n", style="bold")
        for key, share in sorted(found.items(), key=lambda item: -item[1]):
            bar = "█" * round(share * BAR_WIDTH)
            text.append(f"{key.rsplit('.', 1)[-1][:12]:<12} {bar:<{BAR_WIDTH}} {share:.2f}\n")
        self.query_one("#importances", Static).update(text)

    # keys

    def action_next_study(self) -> None:
        if len(self.studies) > 1 and self.study is not None:
            names = [folder.name for folder in self.studies]
            self.study = self.studies[(names.index(self.study.name) + 1) % len(names)]
            self.importance_of = -1
            self._show_study()

    def action_sort(self) -> None:
        keys = [column.key for column in self.columns]
        following = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self._sort_by(following, reverse=following == "value" and self._maximize())

    @on(DataTable.HeaderSelected, "#trials-table")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        assert key is not None  # every column is added with its key
        self._sort_by(key, reverse=not self.sort_reverse if key == self.sort_key else False)

    def _sort_by(self, key: str, reverse: bool) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self._fill_table()

    def _maximize(self) -> bool:
        return self.summary is not None and self.summary.direction == "maximize"

    def action_open_run(self) -> None:
        row = self.selected()
        if row is None or not row.run_dir or not Path(row.run_dir).is_dir():
            self.notify("the trial has no run directory (yet)", severity="warning")
            return
        self.app.push_screen(RunDetailsScreen(Path(row.run_dir), mode=self.MODE))

    def action_start(self) -> None:
        config = self.workspace.config
        if config.sweep is None:
            self.notify("the config has no sweep: block (see the README's Sweeps)", severity="warning")
            return
        try:
            folder = start_sweep(config, self.app.runs_dir)
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"sweeping as study {folder.name}; its output goes to {folder.log_path}")
        self.study = folder
        self.set_timer(REFRESH_SECONDS, self.load)

    def action_stop(self) -> None:
        if self.study is None or not stop_sweep(self.study):
            note = log_tail(self.study) if self.study is not None else ""
            self.notify("no sweep is going for this study" + (f"\n{note}" if note else ""), severity="warning")
            return
        self.notify(f"stopping {self.study.name}: the trial in progress stops like a run (n continues it later)")

    def action_apply_best(self) -> None:
        best = self.summary.best if self.summary is not None else None
        if best is None:
            self.notify("no finished trial yet", severity="warning")
            return
        try:
            self.workspace.replace(with_values(self.workspace.config.to_plain(), best.params).to_plain())
        except WorkbenchError as exc:
            self.notify(str(exc), title="not applied", severity="error")
            return
        self.refresh_title()
        values = ", ".join(f"{key.rsplit('.', 1)[-1]}={param_column(key).cell(best)}" for key in best.params)
        self.notify(f"trial {best.number}'s values set in the config: {values} (ctrl+s saves)")
