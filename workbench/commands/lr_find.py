"""`workbench lr-find CONFIG`: sweep the lr, draw the loss against it and suggest one.

The curve goes to <runs-dir>/<YYYYmmdd-HHMMSS>-<name>-lr-find/lr_find.csv (and .json). The chart
is plain text within 80 columns, so it reads the same in a terminal, a pipe or a log file.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.exit_codes import EXIT_INVALID, EXIT_OK
from workbench.config_options import add_config, add_runs_dir
from workbench.progress import reporting

if TYPE_CHECKING:
    from core.prepare.lr_find import LrFindResult

USAGE = "CONFIG"
SUMMARY = "sweep the learning rate and suggest one"
POINT, MARK, DIVERGED = "•", "┆", "×"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="steps in the sweep, 10..1000 (default: 100)")
    parser.add_argument("--start-lr", type=float, default=1e-7, metavar="LR", help="first lr (default: 1e-7)")
    parser.add_argument("--end-lr", type=float, default=10.0, metavar="LR", help="last lr, at most 10 (default: 10)")
    add_runs_dir(parser, "the curve goes to DIR/<time>-<name>-lr-find/ (default: ./runs)")


def run(args: argparse.Namespace) -> int:
    from workbench.headless import StopRequest

    # A Ctrl-C aborts at once, and the sweep's check before each step raises it again: C code can lose the
    # KeyboardInterrupt Python raises (a Cython module's import clears it: numpy.random's, for one)
    with StopRequest() as stop:
        try:
            swept = _sweep(args, stop.should_stop)
        except KeyboardInterrupt:
            swept = None
    if stop.requested():
        print("workbench: lr-find interrupted", file=sys.stderr)
        return stop.exit_code
    if swept is None:
        return EXIT_INVALID
    result, curve = swept
    print("\n".join(loss_chart(result.lrs, result.losses, result.suggestion)))
    ended = "; stopped early, the loss diverged" if len(result.lrs) < args.steps else ""
    print(f"swept {len(result.lrs)} steps, lr {result.lrs[0]:.3g} to {result.lrs[-1]:.3g}{ended}")
    print(f"suggested lr: {result.suggestion:.3g} ({result.reason})")
    print(f"use it with:  --set train.optimizer.lr={result.suggestion:.3g}")
    print(f"curve: {curve}")
    return EXIT_OK


def _sweep(args: argparse.Namespace, should_stop: Callable[[], bool]) -> tuple[LrFindResult, Path] | None:
    """The sweep and the file its curve went to; None once the config or an option was refused (and said why).
    `should_stop` raises KeyboardInterrupt once a Ctrl-C came."""
    from core.config import load_config
    from core.errors import WorkbenchError
    from core.prepare.lr_find import check_options, find_lr, write_curve

    steps, start_lr, end_lr = args.steps, args.start_lr, args.end_lr
    try:
        config = load_config(args.config, args.overrides)
        check_options(start_lr, end_lr, steps)
        print(f"lr-find {config.name}: up to {steps} steps, lr {start_lr:g} to {end_lr:g}", flush=True)
        with reporting("sweeping the lr") as progress:
            result = find_lr(config, start_lr=start_lr, end_lr=end_lr, steps=steps, should_stop=should_stop,
                             progress=progress)
        should_stop()  # one lost in the last step: no curve is written
        curve = args.runs_dir / f"{datetime.now():%Y%m%d-%H%M%S}-{config.name}-lr-find" / "lr_find.csv"
        write_curve(result, curve)
    except (WorkbenchError, OSError) as exc:
        if not should_stop():  # stopped before its first step is the Ctrl-C's doing, said by the caller
            print(f"workbench: {exc}", file=sys.stderr)
        return None
    return result, curve


def loss_chart(lrs: list[float], losses: list[float], mark: float | None = None, *, width: int = 80,
               height: int = 17) -> list[str]:
    """Loss against lr (log scale) as text lines at most `width` wide, with tick labels on both
    axes and `mark` (the suggestion) drawn as a dotted vertical line. The loss axis spans the curve
    up to where it diverges (past its lowest point, back above its first loss), so the dip fills the
    chart; the divergence is one × on the top row, the points after it left out."""
    diverged = divergence(losses)
    shown = losses[:diverged]
    low, high = min(shown), max(shown)
    y_ticks = {row: f"{high - (high - low) * row / (height - 1):.3g}" for row in {*range(0, height, 4), height - 1}}
    label_width = max(map(len, y_ticks.values()))
    plot_width = width - label_width - 3
    x_low, x_high = math.log10(lrs[0]), math.log10(lrs[-1])

    def column(lr: float) -> int:
        return round((math.log10(lr) - x_low) / ((x_high - x_low) or 1) * (plot_width - 1))

    def row(loss: float) -> int:
        return round((high - loss) / ((high - low) or 1) * (height - 1))

    grid = [[" "] * plot_width for _ in range(height)]
    if mark is not None:
        for line in grid:
            line[column(mark)] = MARK
    previous: tuple[int, int] | None = None
    for lr, loss in zip(lrs, shown):
        x, y = column(lr), row(loss)
        if previous is not None and abs(previous[1] - y) > 1:
            for between in range(min(previous[1], y) + 1, max(previous[1], y)):  # join steep steps
                grid[between][x] = POINT
        grid[y][x] = POINT
        previous = (x, y)
    if diverged is not None:
        grid[0][column(lrs[diverged])] = DIVERGED
    lines = ["loss"]
    for index, cells in enumerate(grid):
        label = y_ticks.get(index, "")
        lines.append(f"{label:>{label_width}} {'┤' if label else '│'}{''.join(cells)}")
    ticks = _x_ticks(lrs[0], lrs[-1], max_count=plot_width // 7)
    axis = ["─"] * plot_width
    labels = [" "] * width
    end = -1
    for lr, text in ticks:
        axis[column(lr)] = "┬"
        start = min(max(label_width + 2 + column(lr) - len(text) // 2, 0), width - len(text))
        if start > end:
            labels[start:start + len(text)] = text
            end = start + len(text)
    lines += [" " * (label_width + 1) + "└" + "".join(axis), "".join(labels).rstrip()]
    caption = ("lr (log scale)" + (f"   {MARK} suggested lr {mark:.3g}" if mark is not None else "")
               + (f"   {DIVERGED} diverges at lr {lrs[diverged]:.3g}" if diverged is not None else ""))
    lines.append(caption.rjust(width).rstrip() if len(caption) < width else caption)
    return lines


def divergence(losses: list[float]) -> int | None:
    """The first point past the lowest loss that is back above the first loss (where the sweep diverged), or None."""
    lowest = losses.index(min(losses))
    return next((index for index in range(lowest + 1, len(losses)) if losses[index] > losses[0]), None)


def _x_ticks(low: float, high: float, max_count: int) -> list[tuple[float, str]]:
    """Decades between low and high (every n-th when there are many); the ends when none fit."""
    decades = list(range(math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9) + 1))
    if len(decades) < 2:
        return [(low, f"{low:.2g}"), (high, f"{high:.2g}")] if high > low else [(low, f"{low:.2g}")]
    every = -(-len(decades) // max(max_count, 1))
    return [(10.0 ** k, f"1e{k}") for k in decades[::every]]
