"""The learning-rate finder: train a fresh copy of the config's model for a few steps while the lr
rises exponentially, and suggest the lr where the smoothed loss falls fastest.

The sweep uses the config's data, model, loss, optimizer (its lr replaced every step), gradient
clipping and device, seeded with config.seed; one batch is one step (train.accumulate, the
schedule and mixed precision are not used). No run's weights are read or written.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from torch import nn

from core.config import RunConfig
from core.data.batches import Batch, Feed
from core.prepare.devices import resolve_device
from core.errors import DataError, WorkbenchError
from core.files import atomic_write, atomic_write_json
from core.model.build import build_for
from core.model.modules import init_from_data
from core.prepare.preflight import input_shape
from core.recipe.losses import LOSSES
from core.recipe.optimizers import OPTIMIZERS
from core.train.engine import deterministic, seed_everything, train_mode

STEPS_RANGE = (10, 1000)
MAX_LR = 10.0  # train.optimizer.lr's upper bound
SMOOTHING = 0.98  # the most weight the loss's moving average gives the past (it averages ~1/10 of the sweep)
DIVERGED = 4.0  # stop once the smoothed loss exceeds this many times the best


@dataclass(frozen=True)
class LrFindResult:
    lrs: list[float]  # lr at each step
    losses: list[float]  # smoothed loss at each step (exponential moving average, bias-corrected)
    suggestion: float  # suggested lr, always inside the swept range
    reason: str  # how it was chosen


def find_lr(config: RunConfig, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
            should_stop: Callable[[], bool] = lambda: False,
            progress: Callable[[int, int], None] | None = None) -> LrFindResult:
    """Sweep the lr from start_lr to end_lr over at most `steps` optimizer steps.

    Stops early when the smoothed loss diverges (non-finite, or DIVERGED x the best) or when
    `should_stop()` is true; `progress(step, steps)` is called after each step. Raises
    WorkbenchError for bad options or input, and when not a single step could be measured.
    """
    check_options(start_lr, end_lr, steps)
    with deterministic(config.train.deterministic):
        seed_everything(config.seed)
        device = resolve_device(config.train.device)
        data = Feed(config.data, config.seed, device)
        if data.train_count == 0:
            raise DataError(f"{data.root} gives no training images")
        model = build_for(config.model, input_shape(config), len(data.classes), config.data.planned_batch_size)[0].to(device)
        init_from_data(model, data.normalised_sample, input_shape(config))  # as the run will start
        train = config.train
        loss_fn = LOSSES[train.loss.name].build(train.loss, data.train_class_counts, list(data.classes)).to(device)
        optimizer = OPTIMIZERS[train.optimizer.name].build(model, train.optimizer)
        train_mode(model)
        lrs: list[float] = []
        losses: list[float] = []
        average, best, stopped = 0.0, math.inf, False
        beta = min(SMOOTHING, 1 - 10 / steps)
        for step, (images, labels) in zip(range(steps), _cycle(data)):
            if should_stop():
                stopped = True
                break
            lr = start_lr * (end_lr / start_lr) ** (step / (steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _clip(model, config)
            optimizer.step()
            average = beta * average + (1 - beta) * loss.item()
            smoothed = average / (1 - beta ** (step + 1))
            if not math.isfinite(smoothed):
                break
            lrs.append(lr)
            losses.append(smoothed)
            if progress is not None:
                progress(step + 1, steps)
            best = min(best, smoothed)
            if best > 0 and smoothed > DIVERGED * best:
                break
    if not lrs:
        raise WorkbenchError("lr-find stopped before its first step" if stopped else
                             f"lr-find: the loss was not finite at the first step (lr {start_lr:g})")
    return LrFindResult(lrs, losses, *suggest(lrs, losses))


def check_options(start_lr: float, end_lr: float, steps: int) -> None:
    """Raise WorkbenchError naming the option that is out of range."""
    low, high = STEPS_RANGE
    if not low <= steps <= high:
        raise WorkbenchError(f"lr-find: steps must be between {low} and {high}, got {steps}")
    if not 0 < start_lr < MAX_LR:
        raise WorkbenchError(f"lr-find: start_lr must be above 0 and below {MAX_LR:g}, got {start_lr:g}")
    if not start_lr < end_lr <= MAX_LR:
        raise WorkbenchError(f"lr-find: end_lr must be above start_lr ({start_lr:g}) and at most {MAX_LR:g} "
                             f"(train.optimizer.lr's limit), got {end_lr:g}")


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, str]:
    """The lr where the smoothed loss falls fastest against log(lr) on its way down to the lowest
    loss (the first and last few points ignored); else a tenth of the lr with the lowest loss.
    Always within lrs[0]..lrs[-1]."""
    lowest = losses.index(min(losses))
    first, last = max(1, len(lrs) // 10), min(lowest + 1, len(lrs) - 1 - max(1, len(lrs) // 20))
    slopes = {i: (losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1]) for i in range(first, last)}
    steepest = min(slopes, key=slopes.__getitem__, default=None)
    if steepest is not None and slopes[steepest] < 0:
        return lrs[steepest], "steepest descent of the smoothed loss"
    return min(max(lrs[lowest] / 10, lrs[0]), lrs[-1]), "a tenth of the lr with the lowest loss"


def write_curve(result: LrFindResult, path: Path) -> None:
    """Write step,lr,loss rows to the CSV `path` and the suggestion beside it (same name, .json), atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["step", "lr", "loss"])
    writer.writerows((step, lr, loss) for step, (lr, loss) in enumerate(zip(result.lrs, result.losses), start=1))
    atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))
    atomic_write_json(path.with_suffix(".json"), {"suggestion": result.suggestion, "reason": result.reason,
                                                 "steps": len(result.lrs), "lr_range": [result.lrs[0], result.lrs[-1]]})


def _cycle(data: Feed) -> Iterator[Batch]:
    """Training batches, epoch after epoch."""
    for epoch in itertools.count(1):
        empty = True
        for batch in data.train_batches(epoch):
            empty = False
            yield batch
        if empty:
            raise DataError(f"{data.root} gives no readable training images")


def _clip(model: nn.Module, config: RunConfig) -> None:
    clip = config.train.grad_clip
    if clip is None:
        return
    if clip.norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip.norm)
    elif clip.value is not None:  # GradClip holds exactly one of the two
        nn.utils.clip_grad_value_(model.parameters(), clip.value)
