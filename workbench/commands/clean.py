"""`workbench clean CONFIG [--cv CV_DIR | --model MODEL]`: the images to look at before trusting the accuracy.

Label issues (likely mislabelled images) and outliers come from a cross-validation's out-of-fold
probabilities: by default the config's latest one in the runs folder (`workbench cv` makes it);
`--model` uses a trained model's predictions instead, the weaker option (the model has seen the
training images), and also says how much leaked validation images inflate its accuracy.
Duplicates (exact and near, within a class, across classes, across train and val) come from the
files. Nothing is changed on disk: `--write-decisions FILE` writes suggested decisions to review;
name that file as `data.exclude` and `data.relabel` in the config to apply them.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config_options import add_config, add_runs_dir
from workbench.exit_codes import EXIT_OK
from workbench.model_options import error, plain

if TYPE_CHECKING:
    from core.clean.findings import Findings

USAGE = "CONFIG [--cv CV_DIR | --model MODEL]"
SUMMARY = "find mislabelled images, duplicates, train/val leaks and outliers; suggest decisions"

SHOWN = 20  # findings of each kind printed as text (--json and --csv give them all)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    evidence = parser.add_mutually_exclusive_group()
    evidence.add_argument("--cv", type=Path, metavar="CV_DIR",
                          help="a cross-validation folder (default: the config's latest in the runs folder)")
    evidence.add_argument("--model", type=Path, metavar="MODEL",
                          help="a trained model (file or run folder) instead of a cross-validation: weaker")
    add_runs_dir(parser, help="where to look for the latest cross-validation (default: ./runs)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the findings as one JSON object")
    output.add_argument("--csv", action="store_true", help="print the findings as CSV, one row per image")
    parser.add_argument("--write-decisions", type=Path, metavar="FILE",
                        help="write the suggested decisions (exclude / relabel) to FILE for you to review")
    parser.add_argument("--device", default="auto", metavar="D", help="for --model: cpu, cuda, mps or auto")


def run(args: argparse.Namespace) -> int:
    from core.clean.cv_folder import CvFolder, latest_cv
    from core.clean.findings import from_cv, from_model
    from core.config import load_config
    from core.data.decisions import write_decisions
    from core.errors import WorkbenchError
    from core.use.inference import load_model
    from workbench.progress import reporting

    try:
        config = load_config(args.config, args.overrides)
        with reporting("looking for issues") as progress:
            stage = None if progress is None else (lambda name, done, total: progress(done, total))
            if args.model is not None:
                findings = from_model(config, load_model(args.model, device=args.device), stage)
            else:
                folder = CvFolder(args.cv) if args.cv is not None else latest_cv(args.runs_dir, config.name)
                if folder is None:
                    return error(f"no cross-validation of '{config.name}' in {args.runs_dir}\n"
                                 f"    hint: run workbench cv {args.config} --folds 3 first, "
                                 f"or give --model MODEL (weaker)")
                findings = from_cv(config, folder, stage)
        if args.write_decisions is not None:
            write_decisions(args.write_decisions, findings.suggested_decisions())
    except WorkbenchError as exc:
        return error(str(exc))
    if args.json:
        print(json.dumps(findings.to_dict(), indent=2))
    elif args.csv:
        csv.writer(sys.stdout).writerows(findings.rows())
    else:
        print_report(findings)
    say = (lambda text: print(text, file=sys.stderr)) if args.json or args.csv else print
    if findings.leakage is not None and (args.json or args.csv):
        say(leakage_line(findings))
    if args.write_decisions is not None:
        say(f"wrote the suggested decisions to {plain(str(args.write_decisions))}; review them, then set "
            f"data.exclude and data.relabel to that file")
    return EXIT_OK


def print_report(findings: Findings) -> None:
    print(f"evidence: {plain(findings.evidence)}")
    for note in findings.notes:
        print(f"note: {plain(note)}")
    print(f"\nlikely mislabelled: {len(findings.label_issues)}")
    for issue in findings.label_issues[:SHOWN]:
        print(f"  {issue.score:.2f}  {plain(issue.given)} -> {plain(issue.suggested)}  {plain(issue.path)}")
    print(f"\nduplicate groups: {len(findings.duplicates)} "
          f"({sum(g.across_splits for g in findings.duplicates)} across train and val, "
          f"{sum(g.across_classes for g in findings.duplicates)} across classes)")
    for group in findings.duplicates[:SHOWN]:
        where = ", ".join(filter(None, ["train and val" if group.across_splits else "",
                                        "two labels" if group.across_classes else ""])) or "one class"
        print(f"  {group.kind} ({where}): " + ", ".join(f"{plain(path)} [{plain(label)}]"
                                                       for path, label in zip(group.paths, group.classes)))
    if findings.leakage is not None:
        print(f"  {leakage_line(findings)}")
    print(f"\noutliers: {len(findings.outliers)}")
    for outlier in findings.outliers[:SHOWN]:
        print(f"  {outlier.score:.2f}  {plain(outlier.path)}")
    hidden = max(len(findings.label_issues), len(findings.duplicates), len(findings.outliers)) > SHOWN
    if hidden:
        print(f"\n(the first {SHOWN} of each; --json or --csv for all)")


def leakage_line(findings: Findings) -> str:
    leak = findings.leakage
    assert leak is not None
    return (f"leakage: {leak.leaked} of {leak.val} validation images have a copy in training; validation accuracy "
            f"{leak.accuracy:.2%} with them, {leak.accuracy_without:.2%} without: inflated by "
            f"{100 * leak.inflation:+.1f} points")
