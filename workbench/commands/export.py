"""`workbench export MODEL --format safetensors|torchscript|onnx -o FILE`: a saved model for use elsewhere.

safetensors keeps the metadata workbench loads back (architecture, classes, preprocessing);
TorchScript and ONNX take float images in [0, 1] with the normalisation inside and are written only
when they give workbench's logits. ONNX needs the optional extra (`pip install -e '.[onnx]'`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from workbench.exit_codes import EXIT_INVALID, EXIT_OK
from workbench.model_options import add_model_options, error, load_classifier, plain

USAGE = "MODEL -o FILE"
SUMMARY = "the model as safetensors, TorchScript or ONNX (--format)"
FORMATS = ("safetensors", "torchscript", "onnx")  # core.use.exporting.FORMATS, without importing torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("--format", required=True, choices=FORMATS, help="the file format")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="where to write it")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists (never a read-only one)")


def run(args: argparse.Namespace) -> int:
    if args.format == "onnx":  # before the slow model load: say at once when the extra is missing
        from core.use.exporting import MissingExtra, missing_onnx_packages

        try:
            missing_onnx_packages()
        except MissingExtra as exc:
            return error(str(exc))
    classifier = load_classifier(args)
    if classifier is None:
        return EXIT_INVALID
    from core.errors import WorkbenchError
    from core.files import check_output
    from core.use.exporting import export_model

    try:
        check_output(args.output, [args.model, classifier.source, args.stack], args.force)
        exported = export_model(classifier, args.format, args.output)
    except (WorkbenchError, OSError) as exc:
        return error(str(exc))
    print(f"wrote {plain(str(exported.path))} ({exported.format}; checked on a seeded batch: largest logit "
          f"difference from workbench {exported.max_difference:.2g})")
    return EXIT_OK
