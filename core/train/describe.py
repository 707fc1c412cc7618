"""Every event as one line of text: the same words in train.log, the headless console and the app."""
from __future__ import annotations

import time

from core.train.events import (BatchEnded, BudgetPlanned, CheckpointSaved, DataProgress, EpochEnded, Event, Extension,
                               RunFailed, RunFinished, RunResumed, RunStarted)


def describe(event: Event) -> str:
    """One line for any event, e.g. `epoch 2/10  train_loss 0.4812  val_loss 0.5120  val_accuracy 81.25%  ...`.

    Every event type has a case: a type without one is a TypeError (tests/core/test_events.py checks them all).
    """
    match event:
        case DataProgress(stage=stage, done=done, total=total):
            share = f" ({done / total:.0%})" if total else ""
            return f"{stage} {done:,}/{total:,}{share}"
        case RunStarted():
            return _started(event)
        case RunResumed(epoch=epoch, batch=batch):
            return f"run resumed after epoch {epoch}" + (f", batch {batch}" if batch else "") + _extension(event)
        case BudgetPlanned():
            how = "budget re-planned, the speed changed" if event.replanned else "budget plan"
            return (f"{how}: ≈ {event.epochs:.1f} epochs in {duration(event.budget_s)} ({event.steps:,} steps), "
                    f"ends at {time.strftime('%H:%M:%S', time.localtime(event.ends_at))}")
        case BatchEnded():
            return (f"epoch {event.epoch} batch {event.batch}/{event.batches}  loss {event.loss:.4f}  "
                    f"lr {event.lr:.3g}  {event.samples_per_second:,.0f} samples/s")
        case EpochEnded():
            return (f"epoch {event.epoch}/{event.epochs}  train_loss {event.train_loss:.4f}  "
                    f"val_loss {event.val_loss:.4f}  val_accuracy {event.val_accuracy:.2%}  lr {event.lr:.3g}  "
                    f"{event.seconds:.1f}s  {event.samples_per_second:,.0f} samples/s")
        case CheckpointSaved(kind=kind, path=path, epoch=epoch):
            return f"saved {kind} checkpoint {path} (epoch {epoch})"
        case RunFinished():
            best = (f", best val_accuracy {event.best_val_accuracy:.2%} at epoch {event.best_epoch}"
                    if event.best_epoch and event.best_val_accuracy is not None else "")
            why = f"; {event.reason}" if event.reason else ""
            return f"run {event.status} after {epochs_and_time(event)}{best}{why}"
        case RunFailed(kind=kind, error=error):
            how = "" if kind == event.state else f" ({kind})"  # input or crash; an abort says it in its state
            return f"run {event.state}{how}: {error}"
    raise TypeError(f"no description for {type(event).__name__} events")


def duration(seconds: float) -> str:
    """90 s, 15 min, 2 h, 1 h 30 min: a budget as people say it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


def _extension(event: RunResumed) -> str:
    """How a run given more epochs than its schedule spans goes on."""
    match event.extension:
        case Extension.FINAL_LR:
            return f"; past the schedule's {event.schedule_epochs} epochs at its final lr"
        case Extension.RESCHEDULE:
            return f"; the schedule laid over all {event.schedule_epochs} epochs"
    return ""


def epochs_and_time(event: RunFinished) -> str:
    """`4 epoch(s) in 12.0s`; a resumed run pairs this process's time with its own epochs:
    `epochs 12-13 in 5.8s (13 in all)`."""
    first, done, seconds = event.first_epoch, event.epochs_done, f"{event.seconds:.1f}s"
    if first <= 1:
        return f"{done} epoch(s) in {seconds}"
    if done < first:
        return f"{done} epoch(s), none of them in the {seconds} since resuming"
    epochs = f"epoch {done}" if done == first else f"epochs {first}-{done}"
    return f"{epochs} in {seconds} ({done} in all)"


def _started(event: RunStarted) -> str:
    """`run shapes on cpu: 800 train / 200 val images, 4 classes, 12,345 parameters`, and what differs from plain."""
    line = (f"run {event.name} on {event.device}: {event.train_samples} train / {event.val_samples} val images, "
            f"{len(event.classes)} classes, {event.parameters:,} parameters")
    if event.precision != "fp32":
        line += f", {event.precision}"
    if event.compiled:
        line += ", compiled"
    if event.world_size > 1:
        line += f", {event.world_size} processes ({event.backend})"
    if event.skipped_files:
        line += f", {event.skipped_files} unreadable file(s) skipped (listed in train.log)"
    return line
