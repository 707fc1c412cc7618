"""`workbench train CONFIG`: `workbench --run CONFIG` under a name torchrun passes on (it reads `--run` itself)."""
from __future__ import annotations

import argparse

from workbench.config_options import add_budget, add_config, add_notify, add_runs_dir

USAGE = "CONFIG"
SUMMARY = "the same as --run (torchrun takes --run for its own option)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_budget(parser)
    add_runs_dir(parser)
    add_notify(parser)


def run(args: argparse.Namespace) -> int:
    from workbench.headless import run_headless

    return run_headless(args.config, args.overrides, args.runs_dir, notify=args.notify)
