"""`workbench classify MODEL PATH... [--top-k K] [--device D] [--batch-size N] [--json | --csv]`

Files and folders (recursively, image files only) are classified in batches. The default is a table
(plain aligned text when stdout is not a terminal); --json prints one JSON object per image, --csv a
header and one row per image. Unreadable files are reported and skipped. Exit codes: 0 every file
classified, 1 some were unreadable, 2 the model or a path is invalid.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from workbench.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from workbench.model_options import add_model_options, error, load_classifier, plain

USAGE = "MODEL PATH..."
SUMMARY = "classify image files and folders with a saved model"

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing's own from Python 3.13

    from core.use.inference import FileFailure, Prediction

    Result = Prediction | FileFailure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_options(parser)
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files and folders (searched recursively)")
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="classes shown per image (default: 5)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default: 64)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object per image (JSON lines)")
    output.add_argument("--csv", action="store_true", help="CSV: path, class_1, probability_1, ..., error")


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.batch_size < 1:
        return error("--top-k and --batch-size must be at least 1")
    files = find_images(args.paths)
    if files is None:
        return EXIT_INVALID
    classifier = load_classifier(args)
    if classifier is None:
        return EXIT_INVALID
    from core.use.inference import FileFailure

    k = min(args.top_k, len(classifier.classes))
    results: list[Result] = []
    writer = _csv_writer(k) if args.csv else None
    for start in range(0, len(files), args.batch_size):
        batch = classifier.classify_files(files[start:start + args.batch_size], top_k=k, batch_size=args.batch_size)
        results += batch
        for result in batch:
            if args.json:
                print(json.dumps(as_json(result)), flush=True)
            elif writer is not None:
                writer(result)
    if not (args.json or args.csv):
        print_table(results, k)
    failed = [result for result in results if isinstance(result, FileFailure)]
    for failure in failed:
        print(f"workbench: cannot read {plain(str(failure.path))}: {failure.reason}", file=sys.stderr)
    if failed:
        print(f"classified {len(results) - len(failed)} of {len(results)} images; {len(failed)} unreadable",
              file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def find_images(paths: list[Path]) -> list[Path] | None:
    """The image files under `paths`, in order; None (after saying why) when a path is missing or none has images."""
    from core.data.images import image_files

    missing = [path for path in paths if not path.exists()]
    if missing:
        error("no such file or folder: " + ", ".join(map(str, missing)))
        return None
    special = [path for path in paths if not (path.is_file() or path.is_dir())]
    if special:  # a FIFO would block the read, /dev/zero never end it
        error("not a file or folder (a pipe or a device), not read: " + ", ".join(map(str, special)))
        return None
    files: list[Path] = []
    for path in paths:
        found = image_files(path)
        if not found:
            print(f"workbench: no image files in {plain(str(path))}", file=sys.stderr)
        files += found
    if not files:
        error("nothing to classify: no image files in " + ", ".join(map(str, paths)))
        return None
    return files


def as_json(result: "Result") -> dict:
    if _classified(result):
        return {"path": str(result.path), "top": [{"class": name, "probability": p} for name, p in result.top]}
    return {"path": str(result.path), "error": result.reason}


def _csv_writer(k: int):
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", *[f"{column}_{rank}" for rank in range(1, k + 1) for column in ("class", "probability")],
                     "error"])

    def write(result: "Result") -> None:
        if _classified(result):
            cells = [cell for name, p in result.top for cell in (name, f"{p:.6f}")]
            writer.writerow([str(result.path), *cells, *[""] * (2 * k - len(cells)), ""])
        else:
            writer.writerow([str(result.path), *[""] * (2 * k), result.reason])
        sys.stdout.flush()

    return write


def print_table(results: list["Result"], k: int) -> None:
    """file, class, probability and the next classes: a rich table in a terminal, plain columns otherwise."""
    rows = list(_rows(results))
    header = ("file", "class", "prob", "next" if k > 1 else "")
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD)
        for name in header:
            table.add_column(name, justify="right" if name == "prob" else "left", overflow="fold")
        for row in rows:
            table.add_row(*map(Text, row), style="red" if row[1] == "unreadable" else None)
        Console().print(table)
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        line = f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        print(line.rstrip())


def _rows(results: Iterable["Result"]) -> Iterable[tuple[str, str, str, str]]:
    for result in results:
        path = plain(str(result.path))
        if _classified(result):
            (label, p), rest = result.top[0], result.top[1:]
            yield path, plain(label), f"{p:.1%}", ", ".join(f"{plain(name)} {q:.1%}" for name, q in rest)
        else:
            yield path, "unreadable", "", result.reason


def _classified(result: "Result") -> TypeIs[Prediction]:
    from core.use.inference import Prediction

    return isinstance(result, Prediction)
