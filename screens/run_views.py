"""Views pushed over the Runs screen (esc returns): one run in full, and two runs compared."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from core.runs.history import (ConfigDifference, EvaluationSummary, RunDetails, compare_configs, describe_state,
                          format_seconds, read_details)
from screens.base import WorkbenchScreen
from screens.widgets.compare_chart import SERIES_STYLES, CompareChart, Series

METRICS = (("val_accuracy", "val acc", "{:.1%}"), ("val_loss", "val loss", "{:.4f}"),
           ("train_loss", "train loss", "{:.4f}"), ("lr", "lr", "{:.3g}"))
EPOCH_COLUMNS = (("epoch", "epoch", "{:.0f}"), ("train_loss", "train loss", "{:.4f}"), ("val_loss", "val loss", "{:.4f}"),
                 ("val_accuracy", "val acc", "{:.1%}"), ("lr", "lr", "{:.3g}"), ("seconds", "time", "{:.1f}s"),
                 ("samples_per_second", "samples/s", "{:,.0f}"))
VALUE_WIDTH = 40


def config_line(config: dict[str, Any]) -> str:
    """The config in one line: data, model, recipe."""
    from core.runs.history import dataset_text, model_text

    data, model, train = config.get("data") or {}, config.get("model") or {}, config.get("train") or {}
    optimizer = train.get("optimizer") or {}
    size = "x".join(map(str, data.get("image_size") or [])) or "?"
    return (f"{dataset_text(data)} {size} · {model_text(model)} · {optimizer.get('name', '?')} "
            f"lr {optimizer.get('lr', '?')} · batch {data.get('batch_size', '?')} · {train.get('epochs', '?')} epoch(s)")


def evaluation_line(evaluation: EvaluationSummary) -> str:
    top5 = f", top-5 {evaluation.top5_accuracy:.1%}" if evaluation.top5_accuracy is not None else ""
    on = f" on {evaluation.images} images" + (f" ({evaluation.data})" if evaluation.data else "")
    return f"evaluation: {evaluation.accuracy:.1%}{top5}{on}"


def value_text(value: Any) -> str:
    """A config value as YAML writes it, on one line: 0.001, [32, 32], {name: adam}; '(not set)' for None."""
    if value is None:
        return "(not set)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _cut(text: str, width: int = VALUE_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


class RunView(WorkbenchScreen):
    """A view over the Runs screen: the navigation bar shows Runs, esc goes back."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, mode: str = "runs") -> None:
        super().__init__()
        self.MODE = mode

    def action_back(self) -> None:
        self.dismiss()


class RunDetailsScreen(RunView):
    """One run in full: overview with curves, the epochs, the resolved config, its files (esc goes back)."""

    CSS_PATH = "runs.tcss"
    BINDINGS = [Binding("escape", "back", "Back"),
                Binding("right,l", "tab(1)", "Next tab", key_display="→", priority=True),
                Binding("left,h", "tab(-1)", "Previous tab", key_display="←", priority=True)]
    TABS = ("overview", "epochs", "config", "files")

    def __init__(self, run_dir: Path, *, mode: str = "runs") -> None:
        super().__init__(mode)
        self.run_dir = run_dir

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="details-tabs"):
            with TabPane("Overview", id="overview"):
                with VerticalScroll():
                    yield Static("reading the run …", id="details-summary")
                    yield CompareChart(id="details-accuracy")
                    yield CompareChart(id="details-loss")
            with TabPane("Epochs", id="epochs"):
                yield DataTable(id="details-epochs", cursor_type="row", zebra_stripes=True)
            with TabPane("Config", id="config"):
                with VerticalScroll():
                    yield Static("", id="details-config")
            with TabPane("Files", id="files"):
                with VerticalScroll():
                    yield Static("", id="details-files")

    def on_mount(self) -> None:
        table = self.query_one("#details-epochs", DataTable)
        for key, label, _ in EPOCH_COLUMNS:
            table.add_column(label, key=key)
        self.load()

    @work(thread=True, exclusive=True, group="details")
    def load(self) -> None:
        details = read_details(self.run_dir)
        self.app.call_from_thread(self.show, details)

    def show(self, details: RunDetails | None) -> None:
        if details is None:
            self.query_one("#details-summary", Static).update(f"{self.run_dir} is no longer a run directory")
            return
        self.query_one("#details-summary", Static).update(overview_text(details))
        metrics = details.metrics
        name = details.summary.run_name or details.summary.name
        self.query_one("#details-accuracy", CompareChart).set_series(
            [Series(name, [row.get("val_accuracy", float("nan")) for row in metrics])], "{:.1%}".format, "val acc")
        self.query_one("#details-loss", CompareChart).set_series(
            [Series("train", [row.get("train_loss", float("nan")) for row in metrics]),
             Series("val", [row.get("val_loss", float("nan")) for row in metrics])], "{:.3f}".format, "loss")
        table = self.query_one("#details-epochs", DataTable)
        table.clear()
        for row in metrics:
            table.add_row(*(Text(fmt.format(row[key]) if key in row else "-", justify="right")
                            for key, _, fmt in EPOCH_COLUMNS))
        self.query_one("#details-config", Static).update(
            Syntax(details.config_text, "yaml", theme="ansi_dark", background_color="default")
            if details.config is not None else Text(details.config_text, style="red"))
        self.query_one("#details-files", Static).update(files_text(details))

    def action_tab(self, offset: int) -> None:
        tabs = self.query_one("#details-tabs", TabbedContent)
        tabs.active = self.TABS[(self.TABS.index(tabs.active) + offset) % len(self.TABS)]


def overview_text(details: RunDetails) -> Text:
    summary = details.summary
    text = Text.assemble((summary.run_name or summary.name, "bold"), f"  {describe_state(summary)}")
    if summary.failed_early:
        text.append("  (failed before its first epoch: D on the Runs screen deletes such runs)", style="dim")
    text.append(f"\n{summary.path}")
    text.append(f"\nstarted {summary.started.replace('T', ' ')}")
    if summary.ended:
        text.append(f", ended {summary.ended.replace('T', ' ')}")
    text.append(f" ({format_seconds(summary.seconds)})")
    best = f"{summary.best_val_accuracy:.1%}" if summary.best_val_accuracy is not None else "-"
    text.append(f"\nepochs {summary.epochs_done}/{summary.epochs or '?'}, best val acc {best}")
    if details.config is not None:
        text.append("\n" + config_line(details.config))
    if details.evaluation is not None:
        text.append("\n" + evaluation_line(details.evaluation))
        pairs = ", ".join(f"{a}→{b} ×{n}" for a, b, n in details.evaluation.confused_pairs)
        if pairs:
            text.append(f"\nmost confused: {pairs}")
    if summary.error:
        text.append(f"\nerror: {summary.error.strip()}", style="red")
    return text


def files_text(details: RunDetails) -> Text:
    text = Text("checkpoints\n", style="bold")
    for checkpoint in details.checkpoints:
        text.append(f"  {checkpoint.kind}.pt  {checkpoint.size / 2**20:.2f} MB  {checkpoint.path}\n")
    if not details.checkpoints:
        text.append("  none saved\n", style="dim")
    text.append("files\n", style="bold")
    text.append("".join(f"  {name}\n" for name in details.files))
    return text


class CompareScreen(RunView):
    """Two runs side by side: the config keys that differ, and their curves overlaid (esc goes back)."""

    CSS_PATH = "runs.tcss"
    BINDINGS = [Binding("escape", "back", "Back"),
                Binding("n", "metric(1)", "Next curve", tooltip="Overlay the next metric: val acc, val loss, ..."),
                Binding("p", "metric(-1)", "Previous curve")]

    def __init__(self, first: Path, second: Path, *, mode: str = "runs") -> None:
        super().__init__(mode)
        self.paths = (first, second)
        self.details: list[RunDetails] = []
        self.metric = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(id="compare-body"):
            yield Static("reading the runs …", id="compare-title")
            yield DataTable(id="compare-diff", cursor_type="row", zebra_stripes=True)
            yield CompareChart(id="compare-chart")

    def on_mount(self) -> None:
        table = self.query_one("#compare-diff", DataTable)
        table.add_column("config key", key="key")
        for mark in "AB":
            table.add_column(mark, key=mark)
        self.load()

    @work(thread=True, exclusive=True, group="compare")
    def load(self) -> None:
        found = [read_details(path) for path in self.paths]
        details = [one for one in found if one is not None]
        if len(details) < len(found):
            self.app.call_from_thread(self.query_one("#compare-title", Static).update,
                                      "one of the runs is no longer there")
            return
        differences = compare_configs(details[0].config, details[1].config)
        self.app.call_from_thread(self.show, details, differences)

    def show(self, details: list[RunDetails], differences: list[ConfigDifference]) -> None:
        self.details = details
        title = Text()
        for index, (mark, one) in enumerate(zip("AB", details)):
            summary = one.summary
            best = f"{summary.best_val_accuracy:.1%}" if summary.best_val_accuracy is not None else "-"
            title.append(f"{mark} ━━ ", style=SERIES_STYLES[index]).append(summary.name, style="bold")
            title.append(f"  {describe_state(summary)}, {summary.epochs_done} epochs, best {best}\n")
        title.append(f"{len(differences)} config key(s) differ" if differences else "the configs are the same",
                     style="dim")
        self.query_one("#compare-title", Static).update(title)
        table = self.query_one("#compare-diff", DataTable)
        table.clear()
        table.display = bool(differences)
        for difference in differences:
            table.add_row(difference.key, Text(_cut(value_text(difference.first)), style=SERIES_STYLES[0]),
                          Text(_cut(value_text(difference.second)), style=SERIES_STYLES[1]))
        self.show_curves()

    def show_curves(self) -> None:
        if not self.details:
            return
        key, label, fmt = METRICS[self.metric]
        series = [Series(f"{mark} {one.summary.run_name or one.summary.name}",
                         [row.get(key, float("nan")) for row in one.metrics]) for mark, one in zip("AB", self.details)]
        self.query_one("#compare-chart", CompareChart).set_series(series, fmt.format, f"{label} (n: next)")

    def action_metric(self, offset: int) -> None:
        self.metric = (self.metric + offset) % len(METRICS)
        self.show_curves()
