"""The options shared by the commands that read a config: CONFIG, `--set KEY=VALUE`, `--budget`, `--runs-dir DIR`,
`--notify`."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, metavar="CONFIG")
    add_overrides(parser)


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")


BUDGET_HELP = ("train to a deadline counted from now, e.g. 15m, 2h, 90s: the schedule ends then and train.epochs is "
               "the most it trains (sets train.budget)")


def add_budget(parser: argparse.ArgumentParser, help: str = BUDGET_HELP) -> None:
    """`--budget 15m` is `--set train.budget=15m`: it joins the overrides, in order."""
    parser.add_argument("--budget", dest="overrides", action="append", type=lambda text: f"train.budget={text}",
                        metavar="DURATION", help=help)


def add_runs_dir(parser: argparse.ArgumentParser, help: str = "where run directories are created (default: ./runs)"
                 ) -> None:
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), metavar="DIR", help=help)


def add_notify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notify", action="store_true",
                        help="when the run ends, a desktop notification through the terminal (OSC 9 / OSC 777)")
