"""`workbench check CONFIG`: validate a config and print the layer table with shapes, costs and fixes."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from workbench.config_options import add_config
from workbench.exit_codes import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from core.config import RunConfig
    from core.model.stack import LayerRow, StackReport

USAGE = "CONFIG"
SUMMARY = "print the layer table and shape checks"
COLUMNS = ("#", "layer", "input", "output", "params", "frozen", "mult-adds", "activations")
DROP_ORDER = ("activations", "frozen", "mult-adds", "input", "params", "output")  # narrow: least important first
LAYER_MIN_WIDTH = 24  # the layer column wraps, but never narrower than this (or its longest label)
WIDTH = 160  # when printing to a pipe or file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)


def load_and_check(config_path: Path, overrides: list[str]) -> tuple["RunConfig", list[str], "StackReport"] | None:
    """The config, its classes and its model report; None (after printing why) when the config is unusable."""
    from core.config import load_config
    from core.errors import WorkbenchError
    from core.prepare.preflight import check_config_model, config_classes

    try:
        config = load_config(config_path, overrides)
        classes = config_classes(config)
        return config, classes, check_config_model(config, len(classes))
    except WorkbenchError as exc:
        _console(stderr=True).print(f"workbench: {exc}", markup=False, highlight=False)
        return None


def print_problems(config: "RunConfig", report: "StackReport") -> None:
    """Warnings to stdout; the error and its fix to stderr."""
    from core.model.build import fix_text
    from core.model.stack import BudgetError

    console, errors = _console(), _console(stderr=True)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False)
    if report.error is None:
        return
    kind = "over budget" if isinstance(report.error, BudgetError) else "shape error"
    errors.print(f"{kind}: {report.error}", markup=False, highlight=False)
    fix = fix_text(config.model, report.error)
    if fix:
        errors.print(f"fix: {fix}", markup=False, highlight=False)


def run(args: argparse.Namespace) -> int:
    from core.columns import bytes_text, count_text
    from core.model.stack import format_shape

    checked = load_and_check(args.config, args.overrides)
    if checked is None:
        return EXIT_INVALID
    config, classes, report = checked
    console = _console()
    console.print(f"{args.config}: {len(classes)} classes, input {format_shape(report.input_shape)}, "
                  f"batch {config.data.planned_batch_size}", markup=False, highlight=False)
    console.print(layer_table(list(_cells(report.rows)), console))
    print_problems(config, report)
    if report.error is not None:
        return EXIT_INVALID
    print_memory(config, report, console)
    console.print(f"parameters: {report.total_trainable:,} trainable, {report.total_frozen:,} frozen; "
                  f"{count_text(report.total_mult_adds)} mult-adds and {bytes_text(report.total_activation_bytes)} "
                  f"of activations per image; output {format_shape(report.output_shape)}",
                  markup=False, highlight=False)
    return EXIT_OK


def print_memory(config: "RunConfig", report: "StackReport", console) -> None:
    """Each layer's activations at the configured batch size and precision, and whether training fits."""
    from core.columns import bytes_text
    from core.errors import WorkbenchError
    from core.prepare.devices import resolve_device
    from core.prepare.memory_estimate import available_memory, estimate_memory

    estimate = estimate_memory(config, report)
    layers = ", ".join(f"{name} {bytes_text(size)}" for name, size in estimate.layers if size)
    console.print(f"activations at batch {estimate.batch_size}: {layers}", markup=False, highlight=False)
    try:
        device = resolve_device(config.train.device)
    except WorkbenchError as exc:  # check still reports the model; the run itself will refuse the device
        console.print(f"memory: {exc}", markup=False, highlight=False)
        return
    console.print(estimate.summary(str(device), available_memory(device)), markup=False, highlight=False)


def _console(stderr: bool = False):
    """A terminal wraps long messages at words; a pipe or file gets each message on one line, 160 wide."""
    from rich.console import Console

    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=WIDTH, soft_wrap=True)


def layer_table(rows: list[tuple[str, ...]], console):
    """The layer table with the columns that fit the console: the least important dropped first, never the layer."""
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table

    from core.columns import fit_columns

    labels = [row[1] for row in rows] or ["layer"]
    longest_word = max(len(word) for label in labels for word in label.split())
    layer_min = min(max(LAYER_MIN_WIDTH, longest_word), max(map(len, labels)))

    def table(shown: list[str]) -> Table:
        made = Table(box=box.SIMPLE_HEAD)
        for column in shown:
            layer = column == "layer"
            made.add_column(column, justify="left" if column in ("layer", "input", "output") else "right",
                            no_wrap=not layer, min_width=layer_min if layer else None, overflow="fold")
        for cells in rows:
            made.add_row(*(cells[COLUMNS.index(column)] for column in shown))
        return made

    def fits(shown: list[str]) -> bool:
        unbounded = console.options.update_width(10_000)  # a measurement is capped at the width it is given
        natural = Measurement.get(console, unbounded, table(shown)).maximum
        return natural - (max(map(len, labels)) - layer_min) <= console.width  # the layer column wrapped

    return table(fit_columns(COLUMNS, DROP_ORDER, fits))


def _cells(rows: list["LayerRow"], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, ...]]:
    """Table cells per row, a residual block's own rows indented under it."""
    from core.columns import bytes_text, count_text
    from core.model.registry import layer_label
    from core.model.stack import format_shape

    for row in rows:
        yield (f"{prefix}{row.index}", "  " * depth + layer_label(row.spec), format_shape(row.input_shape),
               format_shape(row.output_shape), f"{row.trainable:,}", f"{row.frozen:,}", count_text(row.mult_adds),
               bytes_text(row.activation_bytes))
        yield from _cells(list(row.body), f"{prefix}{row.index}.", depth + 1)
