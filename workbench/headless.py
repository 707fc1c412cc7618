"""`workbench --run CONFIG`: train without the TUI, for terminals, scripts, nohup and CI.

In a terminal the events drive a rich progress bar; otherwise (a pipe, a log file) each
epoch is one plain, flushed line. The run directory's path is always printed at the end.
Ctrl-C (SIGINT), SIGTERM or SIGHUP (the SSH session dropped) asks the engine to stop: it
finishes the step, saves last.pt and exits with 130 (143 for SIGTERM, 129 for SIGHUP); a
second one aborts at once (state aborted), as does the first before training has begun
(nothing to save yet); an abort that stands still for ABORT_GRACE_SECONDS (something it waits on is
stuck), or is still under way ABORT_LIMIT_SECONDS later, ends the process there and then. A SIGHUP
that nohup ignores stays ignored.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Callable, TextIO

from core.runs.rundir import RunState
from core.train.describe import describe
from core.train.events import (BatchEnded, BudgetPlanned, DataProgress, EpochEnded, Event, Extension, RunFinished,
                               RunResumed, RunStarted)
from workbench.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from workbench.progress import progress_bar

if TYPE_CHECKING:
    from rich.progress import TaskID

    from core.config import RunConfig

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # those this platform has are handled
PREPARE_QUIET_SECONDS = 2.0  # a plain reporter says nothing of a preparation shorter than this
PREPARE_LINE_SECONDS = 5.0  # and then one line at most this often
ABORT_GRACE_SECONDS = 10.0  # how long an abort may stand still (its thread not running) before the process exits
ABORT_LIMIT_SECONDS = 60.0  # and how long it may take at all: a starved machine unwinds slowly but surely


def run_headless(config_path: Path | None, overrides: list[str], runs_dir: Path, resume: Path | None = None,
                 extension: Extension = Extension.FINAL_LR, notify: bool = False) -> int:
    """Train a config into a new run directory, or continue the run directory `resume` from its last.pt
    (`extension`: how its schedule goes on past its end); `notify` sends a terminal notification when it ends."""
    from core.errors import WorkbenchError

    with StopRequest() as stop:  # until training begins a stop signal aborts at once: nothing to save yet
        try:
            config, run, checkpoint, world = open_run(config_path, overrides, runs_dir, resume)
        except WorkbenchError as exc:
            say(f"workbench: {exc}")
            return EXIT_INVALID
        except KeyboardInterrupt:
            say("workbench: interrupted before the run started")
            return stop.exit_code

        from core.runs.recorder import check_space
        from core.train.budget import process_started
        from core.train.distributed import stop as leave
        from core.train.engine import fit

        reporter = _reporter(world.is_main)
        where = f"\nrun directory: {run.path}" if run is not None else ""

        def handle(event: Event) -> None:
            if isinstance(event, RunStarted):
                if run is not None:
                    check_space(run, event.parameters)  # a full disk is refused before the first step
                stop.begin_training()
            reporter.handle(event)
            if world.is_main:
                warn_if_input_bound(event, config)
                tell_outcome(event, config, notify)

        with reporter:
            finished = False
            try:
                result = fit(config, run, emit=handle, should_stop=stop.should_stop, resume=checkpoint,
                             extension=extension, world=world,
                             started=process_started())  # a budget counts from the command's start
                finished = True
            except WorkbenchError as exc:
                say(f"workbench: {exc}{where}")
                return EXIT_INVALID
            except KeyboardInterrupt:
                say(f"workbench: aborted at once (nothing saved since the last checkpoint){where}")
                return stop.exit_code
            except Exception as exc:  # recorded in the run's train.log with its traceback
                log = f"\ntraceback in {run.log_path}" if run is not None else ""
                say(f"workbench: training failed: {type(exc).__name__}: {exc}{log}")
                return EXIT_FAILED
            finally:
                leave(world, finished)
    if run is not None:
        print_or_drop(f"run directory: {result.run_dir}", sys.stdout)
    return stop.exit_code if result.status == RunState.STOPPED else EXIT_OK


def warn_if_input_bound(event: object, config: "RunConfig") -> None:
    """After an epoch that mostly waited for data: which keys feed batches faster."""
    from core.train.data_wait import input_bound_advice
    from core.train.events import EpochEnded

    advice = input_bound_advice(event.data_wait, config) if isinstance(event, EpochEnded) else None
    if advice:
        say(f"workbench: {advice}")


def tell_outcome(event: Event, config: "RunConfig", notify: bool) -> None:
    """At a run's last event: the terminal notification (with --notify, on a terminal) and notify.command."""
    from core.runs.notify import RunOutcome, run_notify_command, terminal_notification

    outcome = RunOutcome.from_event(event, config.name)
    if outcome is None:
        return
    terminal = sys.__stdout__  # the real stream: a live progress display proxies sys.stdout and strips escapes
    if notify and terminal is not None and terminal.isatty():
        try:
            terminal.write(terminal_notification(f"workbench: {outcome.state}", outcome.summary))
            terminal.flush()
        except OSError:  # the terminal has gone: nobody to tell
            pass
    if config.notify.command:
        problem = run_notify_command(config.notify.command, outcome, config.notify.timeout_s)
        if problem:
            say(f"workbench: {problem}")


def _reporter(main_process: bool):
    """A progress bar on a terminal, plain lines otherwise; silent in torchrun's other processes."""
    if not main_process:
        return PlainReporter(open(os.devnull, "w"))
    return RichReporter() if sys.stdout.isatty() else PlainReporter(sys.stdout)


def open_run(config_path: Path | None, overrides: list[str], runs_dir: Path, resume: Path | None):
    """(config, run directory, checkpoint to resume or None, torchrun world); raises WorkbenchError for
    bad input. Under torchrun only rank 0 makes or writes the run directory (the others get None)."""
    from core.config import load_config, save_config
    from core.errors import WorkbenchError
    from core.prepare.devices import resolve_device
    from core.runs.liveness import run_alive
    from core.runs.recorder import create_run
    from core.runs.rundir import RunDir
    from core.train.distributed import World, start
    from core.train.resume import load_resume

    world = World.from_environment()
    if resume is not None:
        config, checkpoint = load_resume(resume, overrides)
        world = start(world, resolve_device(config.train.device).type)
        if not world.is_main:
            return config, None, checkpoint, world
        resumed = RunDir(resume)
        status = _read_status(resumed)
        if run_alive(status, resumed.path):
            raise WorkbenchError(f"{resumed.path} is still running (pid {status.get('pid')}); stop it before resuming it")
        save_config(config, resumed.config_path)  # e.g. more epochs
        return config, resumed, checkpoint, world
    assert config_path is not None, "a run needs --run CONFIG or --resume RUN_DIR"
    config = load_config(config_path, overrides)
    # a device this machine lacks is refused before the run folder is made
    world = start(world, resolve_device(config.train.device).type)
    run = create_run(runs_dir, config.name, config) if world.is_main else None
    return config, run, None, world


def _read_status(run) -> dict:
    try:
        return run.read_status()
    except (OSError, ValueError):
        return {}


class StopRequest:
    """SIGINT, SIGTERM and SIGHUP as a polite stop request once training runs (`training`); a second
    signal, or the first before training, aborts at once (KeyboardInterrupt). An abort must end the process:
    one whose thread has not run for `grace` seconds waits on what the interrupt left waiting (a lock, a
    pipe nobody reads, a worker), and one still under way `limit` seconds on is taking too long, so
    `force_exit` is called with the exit code. An abort that moves, however slowly, is let finish till then."""

    def __init__(self, grace: float = ABORT_GRACE_SECONDS, limit: float = ABORT_LIMIT_SECONDS,
                 force_exit: Callable[[int], object] = os._exit,
                 thread_clock: Callable[[], float] | None = None) -> None:
        """`thread_clock`: the CPU seconds the aborting thread has run (default: the main thread's)."""
        self.signal: int | None = None  # the first stop signal received
        self.training = False
        self.aborting = False  # a KeyboardInterrupt was raised for an abort
        self.grace, self.limit, self.force_exit = grace, limit, force_exit
        self.thread_clock = thread_clock or main_thread_clock()
        self._watch: threading.Thread | None = None

    def requested(self) -> bool:
        return self.signal is not None

    def should_stop(self) -> bool:
        """The engine's check before each step: True once a stop was asked for. An abort is raised here again:
        C code that clears errors (a Cython module's import) can lose the KeyboardInterrupt the handler raised."""
        if self.aborting:
            raise KeyboardInterrupt
        return self.requested()

    def begin_training(self) -> None:
        """From here a first signal stops politely; one that came before aborts here, as it meant to then."""
        self.should_stop()
        self.training = True

    @property
    def exit_code(self) -> int:
        """128 + the signal: 130 for SIGINT (also when none came), 143 for SIGTERM, 129 for SIGHUP."""
        return 128 + (self.signal or signal.SIGINT)

    def __enter__(self) -> "StopRequest":
        self._previous = {}
        for name in STOP_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None or (name == "SIGHUP" and signal.getsignal(sig) == signal.SIG_IGN):
                continue  # nohup ignores hangups for us: keep it that way
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signal is None
        self.signal = self.signal or signum
        if signum == getattr(signal, "SIGHUP", None):
            detach_terminal()
        if not first or not self.training:
            self.aborting = True
            self._watch_abort()
            raise KeyboardInterrupt
        say("\nworkbench: stopping after this step (Ctrl-C again to abort)")

    def _watch_abort(self) -> None:
        if self._watch is None:
            self._watch = threading.Thread(target=self._end_a_stuck_abort, name="abort watch", daemon=True)
            self._watch.start()  # a daemon: a process that ends in time does not wait for it

    def _end_a_stuck_abort(self) -> None:
        """Watches on past the command's end too: the exit waits for threads the abort may have left running."""
        started = moved = time.monotonic()
        ran = self.thread_clock()
        while True:
            time.sleep(min(1.0, self.grace / 4))
            now, running = time.monotonic(), self.thread_clock()
            if running > ran:
                moved, ran = now, running
            standing = now - moved >= self.grace
            if standing or now - started >= self.limit:
                still = "standing still" if standing else "still unwinding"
                say(f"workbench: the abort was {still} after {now - started:.0f} s; leaving without it")
                self.force_exit(self.exit_code)
                return


def main_thread_clock() -> Callable[[], float]:
    """The CPU seconds the main thread has run; where a thread's clock cannot be read, one that never moves
    (an abort then has `grace` seconds in all)."""
    try:
        clock = time.pthread_getcpuclockid(threading.main_thread().ident or 0)
        time.clock_gettime(clock)
    except (AttributeError, OSError):  # not on every platform (Windows, some Unixes)
        return lambda: 0.0
    return lambda: time.clock_gettime(clock)


def say(text: str) -> None:
    """A message on stderr, never an error: the terminal may be gone (a dropped SSH session)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def detach_terminal() -> None:
    """After a hangup the terminal is gone: what would go to it goes to /dev/null instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if os.isatty(stream.fileno()):
                drop_output(stream)
        except (OSError, ValueError):
            pass


def print_or_drop(line: str, out: TextIO) -> None:
    """Print a line; once the reader has gone (`| head`), keep training and drop the output."""
    try:
        print(line, file=out, flush=True)
    except OSError:  # a closed pipe (EPIPE) or a hung-up terminal (EIO)
        drop_output(out)


def drop_output(out: TextIO) -> None:
    """From now on what goes to `out` goes to /dev/null: its reader or terminal has gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError):
        pass
    os.close(devnull)


def console_line(event: Event) -> str | None:
    """The line a console shows for an event: the run's start (with its warnings) and resume, a budget's plan, its
    epochs (with the machine's line) and its end (None for the others)."""
    match event:
        case EpochEnded():
            return describe(event) + system_line(event)
        case RunStarted():
            return "\n".join([describe(event), *(f"warning: {text}" for text in event.warnings)])
        case RunResumed() | BudgetPlanned() | RunFinished():
            return describe(event)
    return None


def system_line(event: EpochEnded) -> str:
    """The epoch's second line: the share spent waiting for data and the machine's state."""
    from core.train.system import SystemSample

    system = f"  {SystemSample.from_dict(event.system).summary()}" if event.system else ""
    return f"\n  data wait {event.data_wait:.0%}{system}"


class PlainReporter:
    """One flushed line per epoch: readable in a log file or a CI console. A long data preparation
    (decoding a large folder) gets a line every PREPARE_LINE_SECONDS, a short one none."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._prepare_started: float | None = None  # event time of the stage's first DataProgress
        self._prepare_said: float | None = None  # when its last line was printed

    def __enter__(self) -> "PlainReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def handle(self, event: Event) -> None:
        line = self._progress_line(event) if isinstance(event, DataProgress) else console_line(event)
        if line:
            print_or_drop(line, self.out)

    def _progress_line(self, event: DataProgress) -> str | None:
        if event.done == 0 or self._prepare_started is None:
            self._prepare_started, self._prepare_said = event.time, None
        finished = event.done >= event.total
        if self._prepare_said is None:
            due = event.time - self._prepare_started >= PREPARE_QUIET_SECONDS and not finished
        else:
            due = finished or event.time - self._prepare_said >= PREPARE_LINE_SECONDS
        if not due:
            return None
        self._prepare_said = event.time
        return describe(event)


class RichReporter:
    """A live progress bar for the current epoch, with the epoch lines printed above it."""

    def __init__(self) -> None:
        self.progress = progress_bar(title="[bold]Epoch {task.fields[epoch]}",
                                     after="{task.fields[speed]:,.0f} samples/s  loss: {task.fields[loss]:.4f}")
        self.task = self.progress.add_task("train", total=None, visible=False, epoch="", loss=0.0, speed=0.0)
        self.prepare = progress_bar(self.progress.console)
        self.prepare_task: TaskID | None = None

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._prepared()
            self.progress.stop()
        except OSError:
            pass  # the terminal has gone

    def handle(self, event: Event) -> None:
        try:
            self._show(event)
        except OSError:  # the terminal hung up (EIO) before our SIGHUP handler ran: keep training
            drop_output(sys.stdout)

    def _show(self, event: Event) -> None:
        if isinstance(event, DataProgress):
            self._preparing(event)
            return
        self._prepared()
        match event:
            case BatchEnded():
                self.progress.update(self.task, completed=event.batch, total=event.batches, visible=True,
                                     epoch=f"{event.epoch}", loss=event.loss, speed=event.samples_per_second)
                return
            case EpochEnded():
                self.progress.reset(self.task, visible=False)
        line = console_line(event)
        if line:
            self.progress.console.print(line, highlight=False, markup=False)

    def _preparing(self, event: DataProgress) -> None:
        """The preparation's own bar (decoding, mean and std), in place of the epoch's until training starts."""
        if self.prepare_task is None:
            self.progress.stop()
            self.prepare.start()
            self.prepare_task = self.prepare.add_task(event.stage, total=event.total)
        if event.done == 0:
            self.prepare.reset(self.prepare_task, total=event.total, description=event.stage)
        self.prepare.update(self.prepare_task, completed=event.done, total=event.total, description=event.stage)

    def _prepared(self) -> None:
        if self.prepare_task is not None:
            self.prepare.stop()
            self.prepare_task = None
            self.progress.start()
