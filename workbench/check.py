"""`workbench check CONFIG`: validate a config and print the layer table with shapes, costs and fixes."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from workbench.cli import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from core.config import RunConfig
    from core.model.stack import LayerRow, StackReport

COLUMNS = ("#", "layer", "input", "output", "params", "frozen", "mult-adds", "activations")
WIDTH = 160  # when printing to a pipe or file


def load_and_check(config_path: Path, overrides: list[str]) -> tuple["RunConfig", list[str], "StackReport"] | None:
    """The config, its classes and its model report; None (after printing why) when the config is unusable."""
    from rich.console import Console

    from core.config import load_config
    from core.errors import WorkbenchError
    from core.preflight import check_config_model, config_classes

    try:
        config = load_config(config_path, overrides)
        classes = config_classes(config)
        return config, classes, check_config_model(config, len(classes))
    except WorkbenchError as exc:
        Console(stderr=True).print(f"workbench: {exc}", markup=False, highlight=False)
        return None


def print_problems(config: "RunConfig", report: "StackReport") -> None:
    """Warnings to stdout; the error and its fix to stderr."""
    from rich.console import Console

    from core.model.build import fix_text
    from core.model.stack import BudgetError

    console, errors = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False)
    if report.error is None:
        return
    kind = "over budget" if isinstance(report.error, BudgetError) else "shape error"
    errors.print(f"{kind}: {report.error}", markup=False, highlight=False)
    fix = fix_text(config.model, report.error)
    if fix:
        errors.print(f"fix: {fix}", markup=False, highlight=False)


def run_check(config_path: Path, overrides: list[str]) -> int:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from core.model.stack import format_shape

    checked = load_and_check(config_path, overrides)
    if checked is None:
        return EXIT_INVALID
    config, classes, report = checked
    console = Console()
    console = console if console.is_terminal else Console(width=WIDTH)
    console.print(f"{config_path}: {len(classes)} classes, input {format_shape(report.input_shape)}, "
                  f"batch {config.data.planned_batch_size}", markup=False, highlight=False, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    for column in COLUMNS:
        left = column in ("layer", "input", "output")
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "layer")
    for cells in _cells(report.rows):
        table.add_row(*cells)
    console.print(table)
    print_problems(config, report)
    if report.error is not None:
        return EXIT_INVALID
    console.print(f"parameters: {report.total_trainable:,} trainable, {report.total_frozen:,} frozen; "
                  f"{_count(report.total_mult_adds)} mult-adds and {_bytes(report.total_activation_bytes)} of "
                  f"activations per image; output {format_shape(report.output_shape)}",
                  markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def _cells(rows: list["LayerRow"], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, ...]]:
    """Table cells per row, a residual block's own rows indented under it."""
    from core.model.registry import layer_label
    from core.model.stack import format_shape

    for row in rows:
        yield (f"{prefix}{row.index}", "  " * depth + layer_label(row.spec), format_shape(row.input_shape),
               format_shape(row.output_shape), f"{row.trainable:,}", f"{row.frozen:,}", _count(row.mult_adds),
               _bytes(row.activation_bytes))
        yield from _cells(list(row.body), f"{prefix}{row.index}.", depth + 1)


def _count(value: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def _bytes(value: int) -> str:
    """12345 -> '12.1 KB'."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} B"
