"""`workbench features MODEL IMAGE [--max-channels N] [--logdir DIR]`: what each layer makes of one image.

Every top-level layer whose output is an image gets its channels written as one TensorBoard image
(into the run's tensorboard/ folder, or <model>-tensorboard/ beside a model file outside a run), and a
line here with its output shape.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from workbench.exit_codes import EXIT_INVALID, EXIT_OK
from workbench.model_options import add_model_options, error, load_classifier, plain, tensorboard_dir


USAGE = "MODEL IMAGE"
SUMMARY = "each layer's feature maps for one image, into TensorBoard"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("image", type=Path, metavar="IMAGE", help="an image file")
    parser.add_argument("--max-channels", type=int, default=16, metavar="N", help="channels shown per layer (default: 16)")
    parser.add_argument("--logdir", type=Path, metavar="DIR", help="TensorBoard folder (default: the run's tensorboard/)")


def run(args: argparse.Namespace) -> int:
    if args.max_channels < 1:
        return error("--max-channels must be at least 1")
    if not args.image.is_file():
        return error(f"{args.image}: no such file")
    classifier = load_classifier(args)
    if classifier is None:
        return EXIT_INVALID
    from core.errors import WorkbenchError
    from core.use.features import feature_maps, log_feature_maps

    try:
        layers = feature_maps(classifier, args.image, max_channels=args.max_channels)
        logdir = args.logdir or tensorboard_dir(classifier)
        log_feature_maps(layers, args.image, logdir, classifier.image(args.image))
    except (WorkbenchError, OSError) as exc:
        return error(str(exc))
    [prediction] = classifier.classify([args.image], top_k=1)
    print(f"{plain(str(args.image))}: {plain(prediction.label)} {prediction.top[0][1]:.1%}")
    if not layers:
        print("no layer of this model outputs an image (channels x height x width)")
    for layer in layers:
        shape = "x".join(map(str, (layer.channels, *layer.maps.shape[1:])))
        shown = f" (first {len(layer.maps)} shown)" if len(layer.maps) < layer.channels else ""
        print(f"  {layer.index:>3}  {plain(layer.name):<28} {shape}{shown}")
    print(f"wrote {len(layers)} layer images to {plain(str(logdir))}  (view: tensorboard --logdir {plain(str(logdir))})")
    return EXIT_OK
