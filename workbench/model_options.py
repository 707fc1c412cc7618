"""What the commands that read a model (classify, evaluate, export, features) share: the MODEL
argument and its options, loading it with plain-text errors, and where their outputs go.

Importing this module imports no torch: parsers are built before anything heavy loads.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.exit_codes import EXIT_INVALID

if TYPE_CHECKING:
    from core.use.inference import Classifier

MODEL_HELP = ("a workbench checkpoint (.pt), a run directory (its best.pt), a runs folder (its newest run), "
              "a safetensors export, or a state dict (with --stack or --torchvision)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--device", default="auto", metavar="D", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    files = parser.add_argument_group("models that are not workbench checkpoints")
    files.add_argument("--stack", type=Path, metavar="FILE", help="the layer-stack YAML a plain state dict was trained as")
    files.add_argument("--torchvision", metavar="NAME", help="the torchvision model a plain state dict belongs to")
    files.add_argument("--classes", type=_classes, metavar="A,B,..|FILE",
                       help="class names in output order, comma-separated or one per line in a file")
    files.add_argument("--image-size", type=_size, metavar="H,W", help="the image size the model was trained at")
    files.add_argument("--channels", type=int, choices=(1, 3), help="1 (greyscale) or 3 (RGB); default: from the weights")
    files.add_argument("--mean", type=_numbers, metavar="M,..", help="normalisation mean (default: 0.5, or ImageNet's for torchvision)")
    files.add_argument("--std", type=_numbers, metavar="S,..", help="normalisation std (default: 0.5, or ImageNet's for torchvision)")
    trust = parser.add_argument_group("running code from the model file")
    trust.add_argument("--trust-pickle", action="store_true",
                       help="load a whole pickled model (torch.save(model)); unpickling runs code from the file")
    trust.add_argument("--allow-user-code", action="store_true", help="load a model whose architecture is your own module")


def load_classifier(args: argparse.Namespace) -> "Classifier | None":
    """The model args name; None after printing why when it cannot be loaded."""
    from core.model.checkpoints import model_file
    from core.errors import WorkbenchError
    from core.use.inference import load_model

    if args.model.is_dir() and not (args.model / "checkpoints").is_dir():  # a runs folder: say which run
        try:
            print(f"model: {plain(str(model_file(args.model)))}", file=sys.stderr)
        except WorkbenchError:
            pass  # load_model says why
    try:
        return load_model(args.model, device=args.device, trust_pickle=args.trust_pickle,
                          allow_user_code=args.allow_user_code, stack=args.stack, torchvision=args.torchvision,
                          classes=args.classes, image_size=args.image_size, channels=args.channels,
                          mean=args.mean, std=args.std)
    except WorkbenchError as exc:
        error(str(exc))
    except Exception as exc:  # a trusted pickle or a user's module can raise anything
        error(f"{args.model} could not be loaded ({type(exc).__name__}: {exc})")
    return None


def output_dir(classifier: "Classifier", kind: str) -> Path:
    """The run directory the model belongs to, else a folder beside the model file (<stem>-<kind>)."""
    run_dir = classifier.run_dir
    if run_dir is not None:
        return run_dir
    source = classifier.source or Path("model")
    return source.parent / f"{source.stem}-{kind}"


def tensorboard_dir(classifier: "Classifier") -> Path:
    """The run's tensorboard/ folder, else <stem>-tensorboard beside the model file."""
    run_dir = classifier.run_dir
    return run_dir / "tensorboard" if run_dir else output_dir(classifier, "tensorboard")


def plain(text: str) -> str:
    """Text with control characters (terminal escape codes in a file name) shown as '?'."""
    return _CONTROL.sub("?", text)


def error(message: str) -> int:
    print(f"workbench: {plain(message)}", file=sys.stderr)
    return EXIT_INVALID


def _classes(text: str) -> list[str]:
    path = Path(text)
    if "," not in text and path.is_file():
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no class names")
    return names


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not H,W (e.g. 32,32)") from None
    if len(sizes) not in (1, 2) or not all(1 <= n <= 4096 for n in sizes):
        raise argparse.ArgumentTypeError(f"'{text}' is not H,W with sides 1..4096")
    return (sizes[0], sizes[-1])


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not comma-separated numbers") from None
