"""`workbench cv CONFIG --folds K`: stratified K-fold cross-validation of the training pool.

Each fold is an ordinary run (same engine, same run folder) inside `runs/.cv/<name>-<time>/`,
validating on the fold it never trained on. Printed: a line per fold, then the mean ± standard
deviation of the accuracy and of each class's recall. Written there: cv.json (the scores) and
oof.csv (every training image's out-of-fold probabilities, what `workbench clean` reads).
Ctrl-C stops the fold in progress like a run's stop; the folds finished are kept. Under torchrun
every fold is a DistributedDataParallel run of all the processes, in the one process group they
join at the start; the first process alone prints and writes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from workbench.config_options import add_budget, add_config, add_runs_dir
from workbench.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from workbench.model_options import plain

USAGE = "CONFIG --folds K [--budget DURATION]"
SUMMARY = "cross-validate: K runs over the training pool, mean ± std, out-of-fold predictions for clean"

DEFAULT_FOLDS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS, metavar="K",
                        help=f"folds, 2 to 20 (default: {DEFAULT_FOLDS}; 2-3 keep it practical on a CPU)")
    add_budget(parser, help="each fold's time budget, counted from the fold's start, e.g. 5m (sets train.budget)")
    add_runs_dir(parser, help="where the cross-validation folder goes, under .cv/ (default: ./runs)")


def run(args: argparse.Namespace) -> int:
    from core.data.folds import MAX_FOLDS
    from workbench.headless import StopRequest, say

    if not 2 <= args.folds <= MAX_FOLDS:
        say(f"workbench: --folds must be between 2 and {MAX_FOLDS}")
        return EXIT_INVALID
    from core.clean.cv import FoldScore, cross_validate
    from core.config import load_config
    from core.errors import WorkbenchError
    from core.prepare.devices import resolve_device
    from core.train.describe import describe
    from core.train.distributed import World, start
    from core.train.distributed import stop as leave
    from core.train.events import EpochEnded, Event

    def show_epochs(event: Event) -> None:
        if isinstance(event, EpochEnded):
            print(f"  {describe(event)}", flush=True)

    def report(score: FoldScore) -> None:
        print(f"fold {score.fold}/{args.folds}: accuracy {score.accuracy:.2%} on {score.images} held-out images  "
              f"({plain(score.run_dir.name)})", flush=True)

    with StopRequest() as stop:
        stop.training = True  # a first Ctrl-C stops the fold in progress politely
        world, finished = World(), False
        try:
            config = load_config(args.config, args.overrides)
            world = start(World.from_environment(), resolve_device(config.train.device).type)
            emit = show_epochs if world.is_main else lambda event: None  # rank 0 reports for all
            result = cross_validate(config, args.runs_dir, args.folds, emit=emit, should_stop=stop.should_stop,
                                    on_fold=report, world=world)
            finished = True
        except WorkbenchError as exc:
            say(f"workbench: {exc}")
            return EXIT_INVALID
        except KeyboardInterrupt:
            say("workbench: cross-validation aborted")
            return stop.exit_code
        finally:
            leave(world, finished)
    if result is None:  # one of torchrun's other ranks
        return stop.exit_code if stop.requested() else EXIT_OK
    if result.scores:
        mean, std = result.accuracy
        print(f"accuracy {mean:.2%} ± {std:.2%} over {len(result.scores)} fold(s)")
        width = max(len(name) for name in result.classes)
        for name in result.classes:
            recall, spread = result.recall(name)
            print(f"  recall {plain(name):<{width}}  {recall:.2%} ± {spread:.2%}")
    print(f"cross-validation folder: {plain(str(result.folder.path))}")
    if not result.complete:
        say(f"workbench: stopped after {len(result.scores)} of {args.folds} folds")
        return stop.exit_code if stop.requested() else EXIT_FAILED
    where = "" if args.runs_dir == Path("runs") else f" --runs-dir {args.runs_dir}"
    print(plain(f"next: workbench clean {args.config}{where}"))
    return EXIT_OK
