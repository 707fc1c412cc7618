"""`workbench sweep CONFIG`: search the config's `sweep:` space with Optuna, one run directory per trial.

With `--workers 1` (the default) this process runs the trials; with more it starts that many
worker processes (`--worker`, each in a session of its own so a Ctrl-C reaches them once, from
here) and reports what the study's storage says. Each trial finished is one line (a progress bar
above it in a terminal); the end names the best trial and the `--set` line that reproduces it.
Ctrl-C stops like a run's stop (the trial in progress keeps its last.pt and is not counted);
the same command again continues the study.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.runs.rundir import RunState
from workbench.config_options import add_config, add_runs_dir
from workbench.exit_codes import EXIT_INVALID, EXIT_OK

USAGE = "CONFIG"
SUMMARY = "search the config's sweep: space with Optuna (--trials, --workers)"

REPORT_SECONDS = 1.0  # how often a coordinator reads the study for finished trials
DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")
DEFAULT_TRIALS = 20  # when neither --trials nor --timeout is given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--trials", type=at_least_one, metavar="N", help="finished trials the study should have "
                        f"(default: {DEFAULT_TRIALS}, or the grid's size; with --timeout alone: no limit)")
    parser.add_argument("--timeout", type=parse_duration, metavar="DURATION", help="stop starting trials after "
                        "this long, e.g. 90m, 2h, 1h30m, 600 (seconds)")
    parser.add_argument("--workers", type=at_least_one, default=1, metavar="K", help="trial processes on this "
                        "machine; each takes one GPU where there are GPUs, else a share of the CPU threads (default: 1)")
    parser.add_argument("--study", metavar="NAME", help="the study to create or continue (default: the config's name)")
    parser.add_argument("--storage", metavar="URL", help="postgresql://... or mysql://... to share the study between "
                        "machines (default: a journal file in runs/.sweeps/NAME/)")
    add_runs_dir(parser, help="where trial run directories and the study folder go (default: ./runs)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a child of --workers K
    parser.add_argument("--device", help=argparse.SUPPRESS)  # the child's GPU, cuda:i
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)  # the child's share of the CPU threads


def run(args: argparse.Namespace) -> int:
    from core import safe_yaml
    from core.errors import WorkbenchError
    from core.sweep.space import load_raw, read_sweep
    from core.sweep.study import StudyFolder, open_study
    from workbench.headless import ABORT_GRACE_SECONDS, ABORT_LIMIT_SECONDS, StopRequest, say

    with StopRequest(grace=2 * ABORT_GRACE_SECONDS, limit=2 * ABORT_LIMIT_SECONDS) as stop:  # outwait the workers
        stop.training = True  # a first Ctrl-C stops politely at any point: the trial in progress keeps its last.pt
        try:
            source = str(args.config)
            raw = load_raw(safe_yaml.read_text(args.config), args.overrides, source)
            spec = read_sweep(raw, source)
            folder = StudyFolder.under(args.runs_dir, args.study or str(raw.get("name") or "run"))
            epochs = int((raw.get("train") or {}).get("epochs") or 5)
            study = open_study(folder, spec, epochs, args.storage, config_path=str(args.config.resolve()))
        except WorkbenchError as exc:
            say(f"workbench: {exc}")
            return EXIT_INVALID
        trials = args.trials if args.trials is not None or args.timeout else _default_trials(spec)
        budget = _budget(trials, args.timeout)
        if args.worker:
            return _work(study, raw, spec, args, budget, stop, folder, report=None)
        with Report(study, spec.metric, trials, args.config, folder) as report:
            if args.workers == 1:
                code = _work(study, raw, spec, args, budget, stop, folder, report)
            else:
                code = _coordinate(args, report, stop, folder)
            timed_out = budget.deadline is not None and time.time() >= budget.deadline
            report.finish(stopped=stop.requested(), timed_out=timed_out)
    return code


def _work(study: Any, raw: dict, spec: Any, args: argparse.Namespace, budget: Any, stop: Any, folder: Any,
          report: Report | None) -> int:
    """Run trials in this process until the budget is spent; 130 when stopped."""
    from core.errors import WorkbenchError
    from core.sweep.summary import summarize, write_summary
    from core.sweep.trial import TrialRunner, TrialStopped
    from core.sweep.worker import work
    from workbench.headless import say

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    runner = TrialRunner(raw, spec, args.runs_dir, should_stop=stop.requested, device=args.device)

    def after_trial() -> None:
        if report is not None:
            report.update()  # which rewrites the summary too
        else:
            write_summary(folder, summarize(study, spec.metric))

    with _ProcessFile(folder, enabled=report is not None):
        try:
            work(study, runner, budget, after_trial)
        except TrialStopped:
            return stop.exit_code
        except KeyboardInterrupt:
            say("workbench: aborted at once (the trial in progress is failed)")
            return stop.exit_code
        except WorkbenchError as exc:
            say(f"workbench: {exc}")
            return EXIT_INVALID
    return stop.exit_code if stop.requested() else EXIT_OK


def _coordinate(args: argparse.Namespace, report: Report, stop: Any, folder: Any) -> int:
    """Start --workers K worker processes, report the study until they end; a stop is passed on to each."""
    children = [_start_worker(args, index) for index in range(args.workers)]
    forwarded = False
    with _ProcessFile(folder):
        while any(child.poll() is None for child in children):
            try:
                if stop.requested() and not forwarded:
                    forwarded = _interrupt(children)
                report.update()
                time.sleep(REPORT_SECONDS)
            except KeyboardInterrupt:  # a second stop: the workers abort their trials at once
                _interrupt(children)
    report.update()
    codes = [child.returncode for child in children]
    if stop.requested():
        return stop.exit_code
    return EXIT_OK if all(code == EXIT_OK for code in codes) else max(codes)


def _interrupt(children: list[subprocess.Popen]) -> bool:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    return True


def _start_worker(args: argparse.Namespace, index: int) -> subprocess.Popen:
    """One `workbench sweep --worker` child: cuda:index where there are GPUs, else its share of the threads."""
    command = [sys.executable, "-m", "workbench", "sweep", str(args.config), "--worker", "--runs-dir",
               str(args.runs_dir), *(f"--set={override}" for override in args.overrides)]
    for flag, value in (("--trials", args.trials), ("--timeout", args.timeout), ("--study", args.study),
                        ("--storage", args.storage)):
        if value is not None:
            command += [flag, str(value)]
    command += _placement(index, args.workers)
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def _placement(index: int, workers: int) -> list[str]:
    import torch

    gpus = torch.cuda.device_count()
    if gpus:
        return ["--device", f"cuda:{index % gpus}"]
    return ["--threads", str(max(1, (os.cpu_count() or 1) // workers))]


class Report:
    """Lines for finished trials (a trial-count bar above them in a terminal), and the best at the end."""

    def __init__(self, study: Any, metric: str, trials: int | None, config: Path, folder: Any) -> None:
        self.study, self.metric, self.trials, self.config, self.folder = study, metric, trials, config, folder
        self.reported: set[int] = set()
        self.progress: Any = None
        self.summary: Any = None

    def __enter__(self) -> Report:
        if sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=True)
            self.task = self.progress.add_task("trials", total=self.trials)
            self.progress.start()
        self.update()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self) -> None:
        """Print the trials that ended since the last update, in number order; rewrite the summary."""
        from core.sweep.summary import summarize, write_summary

        self.summary = summarize(self.study, self.metric)
        write_summary(self.folder, self.summary)
        for row in sorted(self.summary.trials, key=lambda row: row.number):
            if row.number not in self.reported and row.state in (RunState.FINISHED, RunState.PRUNED, RunState.FAILED):
                self.reported.add(row.number)
                self._print(describe_trial(row, self.metric))
        if self.progress is not None:
            self.progress.update(self.task, completed=self.summary.finished)

    def finish(self, stopped: bool, timed_out: bool) -> None:
        summary = self.summary
        done = f"{summary.finished} of {self.trials}" if self.trials else str(summary.finished)
        why = " (stopped; the same command continues it)" if stopped else " (time is up)" if timed_out else ""
        self._print(f"study {summary.study}: {done} trials finished{why}")
        best = summary.best
        if best is not None:
            self._print(f"best: trial {best.number}, {self.metric} {best.value:.4g}, run {best.run_dir}\n"
                        f"  workbench --run {self.config} {summary.set_line(best)}")

    def _print(self, line: str) -> None:
        from workbench.headless import print_or_drop

        if self.progress is not None:
            self.progress.console.print(line, highlight=False, markup=False)
        else:
            print_or_drop(line, sys.stdout)


def describe_trial(row: Any, metric: str) -> str:
    """`trial 3  finished  val_accuracy 0.8125  12.3s  train.optimizer.lr=0.0123 ...`"""
    value = f"{metric} {row.value:.4g}" if row.value is not None else f"{metric} -"
    duration = f"{row.duration:.1f}s" if row.duration is not None else "-"
    params = " ".join(f"{key}={_short(value)}" for key, value in row.params.items())
    reason = f"  ({row.reason.splitlines()[0]})" if row.state == RunState.FAILED and row.reason else ""
    return f"trial {row.number}  {row.state}  {value}  {duration}  {params}{reason}"


def at_least_one(text: str) -> int:
    """--trials and --workers: a whole number from 1."""
    if not text.strip().isascii() or not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


def parse_duration(text: str) -> float:
    """'2h', '90m', '1h30m', '45s' or '600' as seconds."""
    match = DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: e.g. 90m, 2h, 1h30m, 600 (seconds)")
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _budget(trials: int | None, timeout: float | None) -> Any:
    from core.sweep.worker import Budget

    return Budget(trials, None if timeout is None else time.time() + timeout)


def _default_trials(spec: Any) -> int:
    if spec.sampler != "grid":
        return DEFAULT_TRIALS
    size = 1
    for values in spec.grid().values():
        size *= len(values)
    return size


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class _ProcessFile:
    """sweeping.json in the study folder while this command sweeps: the app finds the process to stop there."""

    def __init__(self, folder: Any, enabled: bool = True) -> None:
        self.folder, self.enabled = folder, enabled

    def __enter__(self) -> None:
        from core.files import atomic_write_json
        from core.runs.liveness import process_identity

        if self.enabled:
            atomic_write_json(self.folder.process_path, process_identity())

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.folder.process_path.unlink(missing_ok=True)

