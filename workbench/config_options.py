"""The options shared by the commands that read a config: CONFIG, `--set KEY=VALUE`, `--runs-dir DIR`, `--notify`."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, metavar="CONFIG")
    add_overrides(parser)


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")


def add_runs_dir(parser: argparse.ArgumentParser, help: str = "where run directories are created (default: ./runs)"
                 ) -> None:
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), metavar="DIR", help=help)


def add_notify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notify", action="store_true",
                        help="when the run ends, a desktop notification through the terminal (OSC 9 / OSC 777)")
