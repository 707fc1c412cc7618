"""Continuing a run from its last.pt: what the checkpoint must hold, and which config changes it allows.

`last.pt` keeps, beside the weights: the optimizer, schedule and scaler states, the optimizer
steps taken, the position (epochs completed, and batches done in an interrupted epoch with their
loss so far), the best result, the early-stopping state, every RNG the run draws from (the
global torch RNG, CUDA's, Python's, the data order's at the epoch's start and augmentation's),
under train.lookahead the slow weights (core/train/lookahead.py) and, under train.budget, the plan and the seconds of the budget used (core/train/budget.py), so a
resumed run keeps its plan with the time left. train.budget itself cannot change on a resume.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from core.model.checkpoints import CheckpointError, load_checkpoint
from core.config import RunConfig, load_config
from core.data.batches import Feed
from core.errors import ConfigError, ConfigIssue
from core.runs.rundir import CheckpointKind, RunDir
from core.train.events import Extension

# Config keys a resumed run may change: they alter neither the model nor what its states mean.
CHANGEABLE = ("train.epochs", "train.device", "train.early_stopping", "train.compile", "train.on_nan",
              "data.loader.num_workers", "data.loader.pin_memory", "data.loader.persistent_workers",
              "data.cache", "data.cache_dir", "data.memory_budget_mb", "data.on_error")
RESUME_KEYS = ("optimizer", "schedule", "scaler", "step", "position", "best", "early_stopping", "rng")


@dataclass(frozen=True)
class Position:
    """Where a run stopped: epochs completed, and batches done in the next one (0 at an epoch boundary)."""

    epoch: int
    batch: int = 0
    loss_sum: float | torch.Tensor = 0.0  # a tensor on the device while training, to spare a sync per step
    samples: int = 0


def load_resume(run_dir: Path, overrides: Sequence[str] = ()) -> tuple[RunConfig, dict[str, Any]]:
    """The run's config (with overrides) and its last.pt, checked to fit each other."""
    run = RunDir(Path(run_dir))
    config = load_config(run.config_path, list(overrides))
    path = run.checkpoint_path(CheckpointKind.LAST)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; a run can be resumed once it has saved last.pt (after an epoch or a stop)")
    checkpoint = load_checkpoint(path)
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} (written by an older workbench)")
    check_resumable(checkpoint["config"], config, source=str(run.config_path))
    return config, checkpoint


def schedule_span(checkpoint: dict[str, Any], per_epoch: int, run_steps: int, extension: Extension) -> tuple[int, bool]:
    """(the optimizer steps the resumed run's schedule spans, whether the run goes past the span it had).

    Past it, FINAL_LR keeps the schedule as it was (its lr held from its last step on) and RESCHEDULE
    lays it over the run's new total. A last.pt from before spans were saved spanned its config's epochs."""
    saved = checkpoint["schedule"].get("span") or per_epoch * checkpoint["config"]["train"]["epochs"]
    extended = run_steps > saved
    return (run_steps if extension == Extension.RESCHEDULE or not extended else saved), extended


def check_resumable(saved: dict[str, Any], config: RunConfig, source: str | None = None) -> None:
    """Refuse a config whose model, data or training recipe differs from the checkpoint's."""
    allowed = [tuple(key.split(".")) for key in CHANGEABLE]
    changed = [path for path in differing_keys(_with_new_defaults(saved), config.to_plain())
               if not any(path[:len(key)] == key for key in allowed)]
    if changed:
        issues = [ConfigIssue(path, "differs from the checkpoint, so the run cannot continue",
                              hint="start a new run for a different model, data or recipe") for path in changed]
        raise ConfigError(issues, source)


def differing_keys(old: Any, new: Any, path: tuple = ()) -> list[tuple]:
    """Key paths (list positions as ints) at which two plain configs differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [key for key in new if key not in old]
        return [found for key in keys for found in differing_keys(old.get(key), new.get(key), path + (key,))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [found for index, pair in enumerate(zip(old, new)) for found in differing_keys(*pair, path + (index,))]
    return [] if old == new else [path]


def rng_state(feed: Feed, mid_epoch: bool) -> dict[str, Any]:
    """Every RNG the run draws from; the data order's as at the start of the epoch to run next or again."""
    order = feed.epoch_rng_state if mid_epoch else feed.generator.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "order": order,
             "augment": feed.augmenter.generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], feed: Feed) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    feed.generator.set_state(state["order"])
    feed.augmenter.generator.set_state(state["augment"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _with_new_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's config with the keys added since it was written at their defaults, which is how it ran."""
    try:
        return RunConfig.model_validate(saved).to_plain()
    except ValidationError:  # a key since renamed or removed: compared as it is, and reported as a difference
        return saved


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples where a checkpoint round trip may give lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
