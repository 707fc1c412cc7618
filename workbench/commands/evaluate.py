"""`workbench evaluate MODEL [DATA] [--json]`: how a saved model does on labelled images.

DATA is a config (its validation split) or a folder of class folders; by default the run's own
validation split. Printed: accuracy, top-5 accuracy (with more than 5 classes), per-class
precision/recall/F1/support, the confusion matrix (shaded in a terminal), the most confused pairs and the highest-loss files. Written:
evaluation.json and confusion.csv into the run directory (or <model>-evaluation/ beside a model file
outside a run) and the matrix as an image into its tensorboard/ folder. --json prints the same
object as evaluation.json, and nothing else on stdout. --tta averages each image's outputs over
test-time augmentation views, as train.tta does in validation.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.data.tta import POLICIES as TTA_POLICIES
from core.runs.rundir import RunDir
from workbench.exit_codes import EXIT_INVALID, EXIT_OK
from workbench.model_options import add_model_options, error, load_classifier, output_dir, plain
from workbench.progress import reporting

USAGE = "MODEL [DATA]"
SUMMARY = "accuracy, per-class scores, confusion matrix, highest losses"

if TYPE_CHECKING:
    from core.use.evaluation import Evaluation

MAX_MATRIX_CLASSES = 30  # wider matrices are left to confusion.csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("data", nargs="?", type=Path, metavar="DATA",
                        help="a config (.yaml; its validation split) or a folder of class folders "
                             "(default: the run's own validation split)")
    parser.add_argument("--json", action="store_true", help="print the evaluation as one JSON object")
    parser.add_argument("--top-losses", type=int, default=16, metavar="N", help="highest-loss files listed (default: 16)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default: 64)")
    parser.add_argument("--tta", choices=TTA_POLICIES, default="none",
                        help="test-time augmentation, as train.tta: outputs averaged over views (default: none)")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.top_losses < 0:
        return error("--batch-size must be at least 1 and --top-losses at least 0")
    classifier = load_classifier(args)
    if classifier is None:
        return EXIT_INVALID
    from core.errors import WorkbenchError
    from core.use.evaluation import evaluate_model, log_evaluation, save_evaluation

    try:
        with reporting("evaluating") as progress:
            evaluation = evaluate_model(classifier, args.data, top_losses=args.top_losses,
                                        batch_size=args.batch_size, tta=args.tta, progress=progress)
        folder = RunDir(output_dir(classifier, "evaluation"))
        save_evaluation(evaluation, folder.path)
        log_evaluation(evaluation, folder.tensorboard_dir)
    except (WorkbenchError, OSError) as exc:
        return error(str(exc))
    if args.json:
        print(json.dumps(evaluation.to_dict(), indent=2))
    else:
        print_report(evaluation)
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    say(f"wrote {plain(str(folder.evaluation_path))} and {folder.CONFUSION}; the matrix image is in "
        f"{plain(str(folder.tensorboard_dir))}")
    return EXIT_OK


def print_report(evaluation: "Evaluation") -> None:
    """The evaluation as text: shaded with rich in a terminal, plain otherwise."""
    color = sys.stdout.isatty()
    lines: list = []
    out = lines.append
    out(f"evaluated {evaluation.count} images: {plain(evaluation.data)}")
    top5 = f"   top-5 accuracy {evaluation.top5_accuracy:.2%}" if evaluation.top5_accuracy is not None else ""
    out(f"accuracy {evaluation.accuracy:.2%}{top5}")
    out("")
    width = max(len("class"), *(len(name) for name in evaluation.classes))
    out(f"{'class':<{width}}  precision  recall     f1  support")
    for report in evaluation.per_class:
        out(f"{plain(report.name):<{width}}  {report.precision:>9.1%}  {report.recall:>6.1%}  {report.f1:>5.3f}  "
            f"{report.support:>7}")
    out("")
    lines.extend(_matrix(evaluation, color))
    if evaluation.confused_pairs:
        pairs = ", ".join(f"{plain(t)} as {plain(p)} {n}" for t, p, n in evaluation.confused_pairs[:5])
        out(f"most confused (true as predicted): {pairs}")
    if evaluation.top_losses:
        out("")
        out("highest losses (check these files' labels):")
        true_width = max(len("true"), *(len(t.true) for t in evaluation.top_losses))
        predicted_width = max(len("predicted"), *(len(t.predicted) for t in evaluation.top_losses))
        out(f"  {'loss':>6}  {'true':<{true_width}}  {'predicted':<{predicted_width}}  confidence  file")
        for t in evaluation.top_losses:
            out(f"  {t.loss:>6.2f}  {plain(t.true):<{true_width}}  {plain(t.predicted):<{predicted_width}}  "
                f"{t.confidence:>10.1%}  {plain(t.path)}")
    if evaluation.unknown_folders:
        out(f"not evaluated, not among the model's classes: {', '.join(map(plain, evaluation.unknown_folders))}")
    if evaluation.skipped:
        out(f"skipped {len(evaluation.skipped)} unreadable file(s): " + ", ".join(
            f"{plain(str(f.path))} ({f.reason})" for f in evaluation.skipped[:5])
            + (", ..." if len(evaluation.skipped) > 5 else ""))
    if color:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
        for line in lines:
            console.print(line, markup=False) if isinstance(line, str) else console.print(line)
    else:
        print("\n".join(lines))


def _matrix(evaluation: "Evaluation", color: bool) -> list:
    """The confusion matrix: rows true classes (numbered), columns predicted (by number); in a
    terminal each cell is shaded by its share of the row."""
    n = len(evaluation.classes)
    if n > MAX_MATRIX_CLASSES:
        return [f"confusion matrix: {n} classes, too many to print; see confusion.csv"]
    names = [f"{i} {plain(name)}" for i, name in enumerate(evaluation.classes)]
    label = max(map(len, names))
    cell = max(len(str(n - 1)), *(len(str(count)) for row in evaluation.confusion for count in row)) + 1
    header = " " * label + " " + "".join(f"{i:>{cell}}" for i in range(n))
    lines: list = ["confusion matrix (rows: true class, columns: predicted class, by number)", header]
    for true, (name, row) in enumerate(zip(names, evaluation.confusion)):
        if not color:
            lines.append(f"{name:<{label}} " + "".join(f"{count:>{cell}}" for count in row))
            continue
        from rich.text import Text

        text = Text(f"{name:<{label}} ")
        for predicted, count in enumerate(row):
            level = int(60 + 180 * count / (sum(row) or 1))  # the cell's share of its true class
            shade = f"rgb(0,{level // 2},{level})" if predicted == true else f"rgb({level},0,{level // 4})"
            text.append(f"{count:>{cell}}", style=f"bold white on {shade}" if count else "dim")
        lines.append(text)
    return lines
