"""`workbench export-code CONFIG [-o FILE]`: the config's model as a readable PyTorch module."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.commands.check import load_and_check, print_problems
from workbench.config_options import add_config
from workbench.exit_codes import EXIT_INVALID, EXIT_OK

USAGE = "CONFIG"
SUMMARY = "write the model as a plain PyTorch module (-o FILE)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of to stdout")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists (never a read-only one)")


def run(args: argparse.Namespace) -> int:
    from core.errors import WorkbenchError
    from core.model.build import plan_for
    from core.model.export import export_code
    from core.prepare.preflight import input_shape

    checked = load_and_check(args.config, args.overrides)
    if checked is None:
        return EXIT_INVALID
    config, classes, report = checked
    if report.error is not None:
        print_problems(config, report)
        return EXIT_INVALID
    _, plain = plan_for(config.model, input_shape(config), len(classes), config.data.planned_batch_size)
    try:
        code = export_code(plain, report, len(classes))
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.output is None:
        sys.stdout.write(code)
        return EXIT_OK
    try:
        write_output(args.output, code, [args.config], args.force)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def write_output(output: Path, code: str, inputs: list[Path], force: bool) -> None:
    """Write the module whole or not at all, into a folder that must already exist, never over an input."""
    from core.files import WriteError, atomic_write, check_output, write_error

    if output.is_dir():
        raise WriteError(f"export-code -o {output}: that is a folder; give a file name, e.g. {output / 'model.py'}")
    check_output(output, inputs, force)
    if not output.parent.is_dir():
        raise WriteError(f"export-code -o {output}: the folder {output.parent} does not exist\n"
                         f"    hint: create it first (mkdir -p {output.parent}) or write somewhere else")
    try:
        atomic_write(output, lambda handle: handle.write(code.encode("utf-8")))
    except OSError as exc:
        raise write_error(exc, output, "the exported code to") from exc
