"""The progress bar every headless command shows while it works: on a terminal only, gone when done.

Importing this module imports no rich; a bar is built when one is shown.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

Report = Callable[[int, int], None]  # (done, total)


def progress_bar(console: Console | None = None, title: str = "[bold]{task.description}", after: str = ""
                 ) -> Progress:
    """A transient bar: `title`, the bar, done/total, time elapsed and left, then `after` (task fields welcome)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("•"),
               TimeRemainingColumn(), *([TextColumn(after)] if after else [])]
    return Progress(*columns, transient=True, console=console)


@contextlib.contextmanager
def reporting(description: str) -> Iterator[Report | None]:
    """A bar on stderr while the block runs, moved by calling the report with (done, total); None when
    stderr is not a terminal, so a pipe or a log file gets no progress at all."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with progress_bar(Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
