"""`workbench explain MODEL IMAGE... [-o DIR] [--layer NAME] [--method M] [--json]`: why the model decides.

For each image, a heatmap of the pixels behind the predicted class, drawn over the image as a PNG in
DIR (default: explanations/ in the model's run directory, else beside the model file). --json prints
one object per image (JSON lines): path, class, probability, layer and heatmap (rows of values in 0..1
at the model's input size). Exit codes: 0 every image explained, 1 some were unreadable, 2 the model,
a path or the layer is invalid.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from workbench.model_options import add_model_options, error, load_classifier, output_dir, plain

USAGE = "MODEL IMAGE..."
SUMMARY = "heatmaps of the pixels behind each prediction (Grad-CAM, occlusion)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files and folders (searched recursively)")
    parser.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="where the overlay PNGs go (default: explanations/ in the model's run directory)")
    parser.add_argument("--layer", metavar="NAME", help="the layer Grad-CAM reads (default: the last convolution)")
    parser.add_argument("--method", choices=("grad-cam", "occlusion"), default="grad-cam",
                        help="grad-cam (default), or occlusion: no gradients, for models whose gradients mislead")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, with the heatmap (JSON lines)")


def run(args: argparse.Namespace) -> int:
    from workbench.commands.classify import find_images

    files = find_images(args.images)
    if files is None:
        return EXIT_INVALID
    classifier = load_classifier(args)
    if classifier is None:
        return EXIT_INVALID
    from core.data.images import UnreadableImage
    from core.errors import WorkbenchError
    from core.use.explain import Explainer
    from core.use.overlay import save_overlay

    try:
        explainer = Explainer(classifier, method=args.method, layer=args.layer)
    except WorkbenchError as exc:
        return error(str(exc))
    folder = args.output or output_dir(classifier, "explain") / "explanations"
    names = _png_names(files)
    unreadable = 0
    for path in files:
        try:
            [explanation] = explainer.explain_file(path)
            png = save_overlay(explanation.image, explanation.heatmap, folder / names[path])
        except UnreadableImage as exc:
            print(f"workbench: cannot read {plain(str(path))}: {exc.reason}", file=sys.stderr)
            unreadable += 1
            continue
        except (WorkbenchError, OSError) as exc:
            return error(str(exc))
        if args.json:
            print(json.dumps({"path": str(path), "class": explanation.class_name,
                              "probability": round(explanation.probability, 6), "layer": explanation.layer,
                              "method": explanation.method, "overlay": str(png), "heatmap": explanation.rows()}),
                  flush=True)
        else:
            print(f"{plain(str(path))}: {plain(explanation.class_name)} {explanation.probability:.1%}  -> {plain(str(png))}")
    if not args.json:
        where = "the input" if explainer.method == "occlusion" else f"layer {plain(explainer.layer)}"
        print(f"{explainer.method} on {where}; overlays in {plain(str(folder))}", file=sys.stderr)
    return EXIT_FAILED if unreadable else EXIT_OK


def _png_names(files: list[Path]) -> dict[Path, str]:
    """<stem>-explained.png per file; a stem met again gets -2, -3, ... so no overlay replaces another."""
    names: dict[Path, str] = {}
    seen: dict[str, int] = {}
    for path in files:
        count = seen[path.stem] = seen.get(path.stem, 0) + 1
        names[path] = f"{path.stem}-explained.png" if count == 1 else f"{path.stem}-{count}-explained.png"
    return names
