"""`workbench --run CONFIG`: train without the TUI, for terminals, scripts, nohup and CI.

In a terminal the events drive a rich progress bar; otherwise (a pipe, a log file) each
epoch is one plain, flushed line. The run directory's path is always printed at the end.
Ctrl-C (SIGINT) or SIGTERM asks the engine to stop: it finishes the step, saves last.pt and
exits with 130 (143 for SIGTERM); a second Ctrl-C aborts at once.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TextIO

from workbench.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK

EXIT_TERMINATED = 143


def run_headless(config_path: Path | None, overrides: list[str], runs_dir: Path, resume: Path | None = None) -> int:
    """Train a config into a new run directory, or continue the run directory `resume` from its last.pt."""
    from core.errors import WorkbenchError

    try:
        config, run, checkpoint = open_run(config_path, overrides, runs_dir, resume)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_INVALID

    from core.training import fit

    stop = StopRequest()
    reporter = RichReporter() if sys.stdout.isatty() else PlainReporter(sys.stdout)
    with stop, reporter:
        try:
            result = fit(config, run, emit=reporter.handle, should_stop=stop.requested, resume=checkpoint)
        except WorkbenchError as exc:
            print(f"workbench: {exc}\nrun directory: {run.path}", file=sys.stderr)
            return EXIT_INVALID
        except KeyboardInterrupt:
            print(f"workbench: aborted\nrun directory: {run.path}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # recorded in the run's train.log with its traceback
            print(f"workbench: training failed: {type(exc).__name__}: {exc}\n"
                  f"traceback in {run.log_path}", file=sys.stderr)
            return EXIT_FAILED
    print_or_drop(f"run directory: {result.run_dir}", sys.stdout)
    if result.status == "stopped":
        return EXIT_TERMINATED if stop.signal == signal.SIGTERM else EXIT_INTERRUPTED
    return EXIT_OK


def open_run(config_path: Path | None, overrides: list[str], runs_dir: Path, resume: Path | None):
    """(config, run directory, checkpoint to resume or None); raises WorkbenchError for bad input."""
    from core.config import load_config, save_config
    from core.resume import load_resume
    from core.runs import RunDir

    if resume is not None:
        config, checkpoint = load_resume(resume, overrides)
        run = RunDir(resume)
        save_config(config, run.config_path)  # e.g. more epochs
        return config, run, checkpoint
    config = load_config(config_path, overrides)
    return config, RunDir.create(runs_dir, config.name, config), None


class StopRequest:
    """Turns SIGINT/SIGTERM into a polite stop request; a second SIGINT aborts."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def requested(self) -> bool:
        return self.signal is not None

    def __enter__(self) -> "StopRequest":
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum
        print("\nworkbench: stopping after this step (Ctrl-C again to abort)", file=sys.stderr, flush=True)


def print_or_drop(line: str, out: TextIO) -> None:
    """Print a line; once the reader has gone (`| head`), keep training and drop the output."""
    try:
        print(line, file=out, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def describe_event(event: object) -> str | None:
    """The line a console shows for an event (None for events shown otherwise or not at all)."""
    from core import events

    if isinstance(event, events.RunStarted):
        line = (f"run {event.name} on {event.device}: {event.train_samples} train / {event.val_samples} val "
                f"images, {len(event.classes)} classes, {event.parameters:,} parameters")
        if event.precision != "fp32" or event.compiled:
            line += f", {event.precision}" + (", compiled" if event.compiled else "")
        if event.skipped_files:
            line += f"\n{event.skipped_files} unreadable file(s) skipped (listed in train.log)"
        return line
    if isinstance(event, events.EpochEnded):
        return (f"epoch {event.epoch}/{event.epochs}  train_loss {event.train_loss:.4f}  "
                f"val_loss {event.val_loss:.4f}  val_accuracy {event.val_accuracy:.2%}  lr {event.lr:.3g}  "
                f"{event.seconds:.1f}s  {event.samples_per_second:,.0f} samples/s")
    if isinstance(event, events.RunFinished):
        best = (f", best val_accuracy {event.best_val_accuracy:.2%} at epoch {event.best_epoch}"
                if event.best_epoch else "")
        why = f"\n{event.reason}" if event.reason and event.status == "finished" else ""
        return f"run {event.status} after {event.epochs_done} epoch(s) in {event.seconds:.1f}s{best}{why}"
    return None


class PlainReporter:
    """One flushed line per epoch: readable in a log file or a CI console."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __enter__(self) -> "PlainReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def handle(self, event: object) -> None:
        line = describe_event(event)
        if not line:
            return
        print_or_drop(line, self.out)


class RichReporter:
    """A live progress bar for the current epoch, with the epoch lines printed above it."""

    def __init__(self) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("[bold]Epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("•"), TimeRemainingColumn(),
            TextColumn("{task.fields[speed]:,.0f} samples/s  loss: {task.fields[loss]:.4f}"),
            transient=True)
        self.task = self.progress.add_task("train", total=None, visible=False, epoch="", loss=0.0, speed=0.0)

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def handle(self, event: object) -> None:
        from core.events import BatchEnded, EpochEnded

        if isinstance(event, BatchEnded):
            self.progress.update(self.task, completed=event.batch, total=event.batches, visible=True,
                                 epoch=f"{event.epoch}", loss=event.loss, speed=event.samples_per_second)
            return
        if isinstance(event, EpochEnded):
            self.progress.reset(self.task, visible=False)
        line = describe_event(event)
        if line:
            self.progress.console.print(line, highlight=False, markup=False)
