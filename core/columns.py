"""Tables that fit a terminal: which columns to keep, and the compact number formats they show.

Shared by the command line (`workbench check`) and the screens (Model, Runs): a table narrower than
its columns drops the least important column first, one at a time, and never the ones that say
what a row is (a layer, a run's name).
"""
from __future__ import annotations

from typing import Callable, Sequence


def fit_columns(columns: Sequence[str], drop_order: Sequence[str], fits: Callable[[list[str]], bool]) -> list[str]:
    """`columns` less the first of `drop_order` until `fits(shown)` (columns not in drop_order always stay)."""
    shown = list(columns)
    for name in drop_order:
        if fits(shown):
            break
        if name in shown:
            shown.remove(name)
    return shown


def cells_width(widths: dict[str, int], shown: Sequence[str], padding: int = 2) -> int:
    """The width a row of `shown` columns takes: each column's width plus its cell padding."""
    return sum(widths[name] + padding for name in shown)


def count_text(value: int) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def bytes_text(value: int) -> str:
    """12345 -> '12.1 KB'."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} B"
