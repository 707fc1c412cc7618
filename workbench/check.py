"""`workbench check CONFIG`: validate a config and print the layer table with shapes."""
from __future__ import annotations

from pathlib import Path

from workbench.cli import EXIT_INVALID, EXIT_OK


def run_check(config_path: Path, overrides: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from core.config import load_config
    from core.errors import WorkbenchError
    from core.model.registry import layer_label
    from core.model.stack import format_shape
    from core.preflight import check_config_model, config_classes

    console = Console()
    try:
        config = load_config(config_path, overrides)
        classes = config_classes(config)
        report = check_config_model(config, len(classes))
    except WorkbenchError as exc:
        Console(stderr=True).print(f"workbench: {exc}", markup=False, highlight=False)
        return EXIT_INVALID
    console.print(f"{config_path}: {len(classes)} classes, input {format_shape(report.input_shape)}",
                  markup=False, highlight=False, soft_wrap=True)
    table = Table()
    for column in ("#", "layer", "output shape", "params"):
        table.add_column(column, justify="right" if column in ("#", "params") else "left")
    for row in report.rows:
        table.add_row(str(row.index), layer_label(row.spec), format_shape(row.output_shape), f"{row.parameters:,}")
    console.print(table)
    if report.error is not None:
        Console(stderr=True).print(f"shape error: {report.error}", markup=False, highlight=False)
        return EXIT_INVALID
    console.print(f"total parameters: {report.total_parameters:,}; output {format_shape(report.output_shape)}")
    return EXIT_OK

