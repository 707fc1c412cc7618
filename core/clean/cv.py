"""Cross-validation: K ordinary runs, each validating on one fold of the training pool.

Each fold's run trains the config with `data.fold` set (core/data/folds.py), through the same
engine and into an ordinary run folder inside the cross-validation's folder. After a fold, its
best.pt predicts the fold it never trained on; those out-of-fold probabilities, one row per
training image, are what label issues and outliers are found from. `cv.json` and `oof.csv` are
written after every fold, so a stopped cross-validation keeps the folds it finished.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.clean.cv_folder import CvFolder, OutOfFold
from core.config import RunConfig
from core.data.decisions import sample_name
from core.data.folds import HeldOutFold, assign_folds, hold_out
from core.data.samples import Listing
from core.data.sources import list_data
from core.runs.rundir import CheckpointKind, RunDir, RunState
from core.train.distributed import World, main_first
from core.train.events import Event


@dataclass(frozen=True)
class FoldScore:
    fold: int  # from 1
    run_dir: Path
    images: int  # held out, and predicted
    accuracy: float  # of best.pt on the held-out fold
    recall: dict[str, float]  # per class


@dataclass(frozen=True)
class CvResult:
    folder: CvFolder
    classes: list[str]
    folds: int  # asked for
    scores: list[FoldScore]  # the folds finished, in order

    @property
    def complete(self) -> bool:
        return len(self.scores) == self.folds

    @property
    def accuracy(self) -> tuple[float, float]:
        """(mean, standard deviation) of the folds' accuracies."""
        return mean_std([score.accuracy for score in self.scores])

    def recall(self, name: str) -> tuple[float, float]:
        """(mean, standard deviation) of one class's recall over the folds."""
        return mean_std([score.recall[name] for score in self.scores])

    def to_dict(self, config: RunConfig) -> dict[str, Any]:
        mean, std = self.accuracy
        return {
            "name": config.name, "folds": self.folds, "seed": config.seed, "complete": self.complete,
            "classes": list(self.classes),
            "per_fold": [{"fold": s.fold, "run_dir": str(s.run_dir), "images": s.images, "accuracy": s.accuracy,
                          "recall": s.recall} for s in self.scores],
            "accuracy": {"mean": mean, "std": std},
            "recall": {name: dict(zip(("mean", "std"), self.recall(name))) for name in self.classes},
            "finished_at": datetime.now().isoformat(timespec="seconds"),
        }


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for fewer than two values)."""
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fold_config(config: RunConfig, fold: int, folds: int) -> RunConfig:
    """The config one fold's run trains: the same, validating on fold `fold` of the training pool."""
    data = config.data.model_copy(update={"fold": HeldOutFold(index=fold, folds=folds)})
    return config.model_copy(update={"data": data})


def cross_validate(config: RunConfig, runs_dir: Path, folds: int, *, emit: Callable[[Event], None],
                   should_stop: Callable[[], bool], on_fold: Callable[[FoldScore], None] = lambda score: None,
                   world: World = World()) -> CvResult | None:
    """Train `folds` runs of `config` into a new cross-validation folder under `runs_dir`; WorkbenchError for bad
    input. A stop request ends the fold in progress like a run's stop and leaves out that fold and the rest.

    Under torchrun (`world`, its process group started) every rank trains each fold; rank 0 alone makes the
    folder and the fold runs, predicts the held-out folds and returns the result, the others return None."""
    from core.runs.recorder import create_run
    from core.train.engine import fit

    with main_first(world):  # rank 0 generates or downloads the data once
        pool = list_data(config.data.model_copy(update={"fold": None}), config.seed)
    hold_out(pool, HeldOutFold(index=1, folds=folds), config.seed)  # a pool too small to split fails before any folder
    assigned = assign_folds(pool.train, folds, config.seed)  # as each fold's run splits it (core.data.folds)
    result = CvResult(CvFolder.new(runs_dir, config.name), pool.classes, folds, []) if world.is_main else None
    parts: list[OutOfFold] = []
    for fold in range(1, folds + 1):
        fold_run = fold_config(config, fold, folds)
        run = create_run(result.folder.path, f"{config.name}-fold{fold}", fold_run) if result is not None else None
        if fit(fold_run, run, emit=emit, should_stop=should_stop, world=world).status == RunState.STOPPED:
            break
        with main_first(world):  # the other ranks wait while rank 0 predicts the fold it held out
            if result is not None and run is not None:
                held = [i for i, f in enumerate(assigned) if f == fold - 1]
                parts.append(_predict_held_out(run, fold_run.train.device, pool, held, fold))
                result.scores.append(_score(fold, run.path, pool.classes, np.array(parts[-1].given),
                                            parts[-1].probabilities))
                result.folder.write_oof(_joined(parts, pool.classes))
                result.folder.write_summary(result.to_dict(config))
                on_fold(result.scores[-1])
    if result is not None:
        result.folder.write_summary(result.to_dict(config))
    return result


def _predict_held_out(run: RunDir, device: str, pool: Listing, held: list[int], fold: int) -> OutOfFold:
    """The probabilities best.pt of `run` gives the training images at `held` (an unreadable one gets no row)."""
    from core.clean.predictions import probabilities
    from core.use.inference import load_model

    classifier = load_model(run.checkpoint_path(CheckpointKind.BEST), device=device)
    predicted, kept = probabilities(classifier, [pool.train[i] for i in held])
    rows = [held[k] for k in kept]
    return OutOfFold(pool.classes, [sample_name(pool.train[i], "train", i) for i in rows],
                     [pool.train[i].label for i in rows], [fold] * len(rows), predicted.numpy())


def _joined(parts: list[OutOfFold], classes: list[str]) -> OutOfFold:
    return OutOfFold(classes, [p for part in parts for p in part.paths], [g for part in parts for g in part.given],
                     [f for part in parts for f in part.folds], np.concatenate([part.probabilities for part in parts]))


def _score(fold: int, run_dir: Path, classes: list[str], labels: np.ndarray, predicted: np.ndarray) -> FoldScore:
    guesses = predicted.argmax(axis=1)
    recall = {name: float((guesses[labels == i] == i).mean()) if (labels == i).any() else 0.0
              for i, name in enumerate(classes)}
    return FoldScore(fold, run_dir, len(labels), float((guesses == labels).mean()) if len(labels) else 0.0, recall)
