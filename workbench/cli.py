"""Command-line entry point. Parsing imports nothing heavy: `workbench --help` never loads torch."""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from core.train.events import Extension
from workbench import commands
from workbench.config_options import add_budget, add_notify, add_overrides, add_runs_dir
from workbench.exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK

DESCRIPTION = "A terminal training workbench for PyTorch image classification."
APP_USAGE = {  # the lines of `workbench --help`'s list before the subcommands'
    "workbench [CONFIG]": "open the app (default: ./workbench.yaml, else the demo)",
    "workbench --run CONFIG": "train headless (scripts, nohup, CI)",
    "workbench --resume RUN_DIR": "continue a stopped run from its last.pt",
}


def find_commands() -> dict[str, ModuleType]:
    """Every module in workbench/commands/, by its command name (export_code.py is export-code)."""
    return {found.name.replace("_", "-"): importlib.import_module(f"{commands.__name__}.{found.name}")
            for found in pkgutil.iter_modules(commands.__path__) if not found.name.startswith("_")}


def build_parser(found: dict[str, ModuleType]) -> argparse.ArgumentParser:
    listed = APP_USAGE | {f"workbench {name} {command.USAGE}": command.SUMMARY
                          for name, command in sorted(found.items())}
    width = max(map(len, listed)) + 2
    lines = "".join(f"  {usage:<{width}}{summary}\n" for usage, summary in listed.items())
    parser = argparse.ArgumentParser(prog="workbench", description=f"{DESCRIPTION}\n\n{lines}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help="config to open in the app")
    parser.add_argument("--run", metavar="CONFIG", type=Path, help="train the YAML config headless")
    parser.add_argument("--resume", metavar="RUN_DIR", type=Path,
                        help="continue a run directory from its checkpoints/last.pt (--set train.epochs=N extends it)")
    parser.add_argument("--extend", choices=[choice.value for choice in Extension],
                        help="with --resume past the end of the run's schedule: final-lr (the default) trains the "
                             "added epochs at the schedule's last lr, reschedule lays the schedule over the new total")
    add_overrides(parser)
    add_budget(parser)
    add_runs_dir(parser)
    add_notify(parser)
    return parser


def build_command_parser(name: str, command: ModuleType) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"workbench {name}", description=command.SUMMARY)
    command.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The `workbench` command: its exit code (under torchrun the process ends here with it)."""
    code = _command(argv)
    end_torchrun_process(code)
    return code


def end_torchrun_process(code: int) -> None:
    """A process torchrun started ends here once its command is done: atexit handlers run and the streams
    flush as at any exit, then os._exit skips the interpreter's teardown. A DistributedDataParallel model
    keeps gloo's process group (and its threads) alive past destroy_process_group, and tearing it down
    at exit aborts the process ("terminate called without an active exception") in about one exit in
    five on a busy machine, which torchrun reports as a failed job after the run has finished and saved."""
    distributed = sys.modules.get("core.train.distributed")  # never imported: no process group was joined
    if distributed is None or distributed.TORCHRUN_MARK not in os.environ:
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone, a stream closed: nothing left to say
            pass
    os._exit(code)


def _command(argv: list[str] | None) -> int:
    """A Ctrl-C once the command runs (even while importing torch) exits 130 with one line, no traceback, and a
    reader that goes away (`workbench classify ... | head`) ends any command quietly."""
    try:
        try:
            return _dispatch(sys.argv[1:] if argv is None else argv)
        finally:
            sys.stdout.flush()  # a reader gone shows here, not in the interpreter's own flush at exit
    except KeyboardInterrupt:
        try:
            print("workbench: interrupted", file=sys.stderr)
        except OSError:
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def _discard_stdout() -> None:
    """Send what is still buffered for stdout to /dev/null, so the flush at exit finds no closed pipe to fail on."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is not a file (a test's capture): nothing to flush
        pass
    os.close(devnull)


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`parser`'s arguments; -h or --help anywhere prints the help, even after an option that takes a value
    (argparse would read `--run --help` as --run missing its CONFIG)."""
    if "-h" in argv or "--help" in argv:
        parser.print_help()
        parser.exit()
    return parser.parse_args(argv)


def _dispatch(argv: list[str]) -> int:
    found = find_commands()
    if argv[:1] and argv[0] in found:
        command = found[argv[0]]
        return command.run(parse(build_command_parser(argv[0], command), argv[1:]))
    parser = build_parser(found)
    args = parse(parser, argv)
    if args.run is not None and args.resume is not None:
        parser.error("give --run CONFIG or --resume RUN_DIR, not both")
    if args.extend is not None and args.resume is None:
        parser.error("--extend goes with --resume RUN_DIR")
    if args.run is None and args.resume is None:
        return run_app(args.config, args.runs_dir)
    from workbench.headless import run_headless

    return run_headless(args.run, args.overrides, args.runs_dir, resume=args.resume,
                        extension=Extension(args.extend or Extension.FINAL_LR), notify=args.notify)


def run_app(config: Path | None, runs_dir: Path) -> int:
    if not (_is_tty(sys.stdin) and _is_tty(sys.stdout)):
        print("workbench: the app needs a terminal (stdin and stdout are not both a TTY);\n"
              "  to train without one: workbench --run CONFIG   (workbench --help lists every command)",
              file=sys.stderr)
        return EXIT_INVALID
    from core.errors import WorkbenchError
    from workbench.app import make_app

    try:
        app = make_app(config, runs_dir)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        app.run()
    finally:
        app.tensorboard.stop()  # whatever ended the app, TensorBoard goes with it
    return EXIT_OK


def _is_tty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
