"""Command-line entry point. Parsing imports nothing heavy: `workbench --help` never loads torch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
A terminal training workbench for PyTorch image classification.

  workbench [CONFIG]                open the app (default: ./workbench.yaml, else the demo)
  workbench --run CONFIG            train headless (scripts, nohup, CI)
  workbench --resume RUN_DIR        continue a stopped run from its last.pt
  workbench train CONFIG            the same as --run (torchrun takes --run for its own option)
  workbench check CONFIG            print the layer table and shape checks
  workbench export-code CONFIG      write the model as a plain PyTorch module (-o FILE)
  workbench lr-find CONFIG          sweep the learning rate and suggest one
  workbench classify MODEL PATH...  classify image files and folders with a saved model
  workbench evaluate MODEL [DATA]   accuracy, per-class scores, confusion matrix, highest losses
  workbench features MODEL IMAGE    each layer's feature maps for one image, into TensorBoard
  workbench export MODEL -o FILE    the model as safetensors, TorchScript or ONNX (--format)
  workbench explain MODEL IMAGE...  heatmaps of the pixels behind each prediction (Grad-CAM, occlusion)
"""

MODEL_COMMANDS = {"classify": "workbench.classify", "evaluate": "workbench.evaluate",
                  "features": "workbench.features", "export": "workbench.export_model",
                  "explain": "workbench.explain"}  # each has main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help="config to open in the app")
    parser.add_argument("--run", metavar="CONFIG", type=Path, help="train the YAML config headless")
    parser.add_argument("--resume", metavar="RUN_DIR", type=Path,
                        help="continue a run directory from its checkpoints/last.pt (--set train.epochs=N extends it)")
    _add_config_options(parser)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), metavar="DIR",
                        help="where run directories are created (default: ./runs)")
    parser.add_argument("--notify", action="store_true",
                        help="when the run ends, a desktop notification through the terminal (OSC 9 / OSC 777)")
    return parser


def build_check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench check",
                                     description="Validate a config and print its layer table with shapes.")
    parser.add_argument("config", type=Path, metavar="CONFIG")
    _add_config_options(parser)
    return parser


def build_export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench export-code",
                                     description="Write the config's model as a readable PyTorch module.")
    parser.add_argument("config", type=Path, metavar="CONFIG")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of to stdout")
    _add_config_options(parser)
    return parser


def build_lr_find_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench lr-find",
                                     description="Sweep the learning rate exponentially on a fresh copy of the model, "
                                                 "chart the loss against it and suggest an lr.")
    parser.add_argument("config", type=Path, metavar="CONFIG")
    _add_config_options(parser)
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="steps in the sweep, 10..1000 (default: 100)")
    parser.add_argument("--start-lr", type=float, default=1e-7, metavar="LR", help="first lr (default: 1e-7)")
    parser.add_argument("--end-lr", type=float, default=10.0, metavar="LR", help="last lr, at most 10 (default: 10)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), metavar="DIR",
                        help="the curve goes to DIR/<time>-<name>-lr-find/ (default: ./runs)")
    return parser


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")


def main(argv: list[str] | None = None) -> int:
    """The command; a Ctrl-C at any moment (even while importing torch) exits 130 with one line, no traceback."""
    try:
        return _dispatch(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        try:
            print("workbench: interrupted", file=sys.stderr)
        except OSError:
            pass
        return EXIT_INTERRUPTED


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["train"]:  # `torchrun -m workbench train CONFIG`: torchrun reads `--run` as its --run-path
        argv = ["--run", *argv[1:]]
    if argv[:1] and argv[0] in MODEL_COMMANDS:
        import importlib

        return importlib.import_module(MODEL_COMMANDS[argv[0]]).main(argv[1:])
    if argv[:1] == ["check"]:
        args = build_check_parser().parse_args(argv[1:])
        from workbench.check import run_check

        return run_check(args.config, args.overrides)
    if argv[:1] == ["export-code"]:
        args = build_export_parser().parse_args(argv[1:])
        from workbench.export import run_export

        return run_export(args.config, args.overrides, args.output)
    if argv[:1] == ["lr-find"]:
        args = build_lr_find_parser().parse_args(argv[1:])
        from workbench.lr_find import run_lr_find

        return run_lr_find(args.config, args.overrides, args.runs_dir, steps=args.steps, start_lr=args.start_lr,
                           end_lr=args.end_lr)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run is not None and args.resume is not None:
        parser.error("give --run CONFIG or --resume RUN_DIR, not both")
    if args.run is None and args.resume is None:
        return run_app(args.config, args.runs_dir)
    from workbench.headless import run_headless

    return run_headless(args.run, args.overrides, args.runs_dir, resume=args.resume, notify=args.notify)


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
