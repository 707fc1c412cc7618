"""Early stopping: watch one epoch metric and say when it has stopped improving, and why."""
from __future__ import annotations

from core.config import EarlyStopping


class EarlyStopper:
    """Feed it each epoch's metrics; `update` returns the reason to stop, or None to go on."""

    def __init__(self, options: EarlyStopping) -> None:
        self.options = options
        self.best: float | None = None  # set together with best_epoch; a checkpoint keeps both
        self.best_epoch: int | None = None

    def update(self, epoch: int, metrics: dict[str, float]) -> str | None:
        value = metrics[self.options.metric]
        if self.best is None or self.best_epoch is None or self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            return None
        waited = epoch - self.best_epoch
        if waited < self.options.patience:
            return None
        return (f"early stopping: {self.options.metric} did not improve by more than {self.options.min_delta:g} "
                f"for {waited} epoch(s); best {self.best:.4g} at epoch {self.best_epoch}")

    def _improved(self, value: float, best: float) -> bool:
        delta = self.options.min_delta
        return value > best + delta if self.options.maximise else value < best - delta
