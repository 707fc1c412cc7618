"""TensorBoard as a subscriber of the engine's events, like the run recorder.

Scalars come from the events (train loss and lr per reported step, validation loss and accuracy
per epoch), the run's hyperparameters are written with its final metrics when it ends, and the
model graph and a grid of sample images are added once before training starts.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from core.config import RunConfig
from core.train.events import BatchEnded, EpochEnded, Event, RunFinished


class TensorBoardLog:
    """One run's TensorBoard folder."""

    def __init__(self, log_dir: Path, config: RunConfig, log: Callable[[str], None]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.writer = SummaryWriter(str(log_dir))
        self.hparams = hyperparameters(config)
        self.log = log
        self._last_epoch: EpochEnded | None = None

    def add_model(self, model: nn.Module, example: torch.Tensor, samples: torch.Tensor) -> None:
        """The model graph (traced in eval mode, so no statistics change) and a grid of sample images."""
        from torchvision.utils import make_grid

        self.writer.add_image("samples", make_grid(samples, nrow=8))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # add_graph traces with torch.jit
                self.writer.add_graph(model, example)
        except Exception as exc:  # tracing fails on some user models; the graph is optional
            self.log(f"tensorboard: no model graph ({type(exc).__name__}: {exc})")
        finally:
            model.train(was_training)

    def record(self, event: Event) -> None:
        match event:
            case BatchEnded():
                self.writer.add_scalar("train/loss", event.loss, event.step)
                self.writer.add_scalar("train/lr", event.lr, event.step)
            case EpochEnded():
                self._last_epoch = event
                for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
                    self.writer.add_scalar(f"epoch/{key}", getattr(event, key), event.epoch)
                self.writer.add_scalar("val/loss", event.val_loss, event.epoch)
                self.writer.add_scalar("val/accuracy", event.val_accuracy, event.epoch)
                self.writer.flush()
            case RunFinished():
                self._add_hparams(event)

    def close(self) -> None:
        self.writer.close()

    def _add_hparams(self, finished: RunFinished) -> None:
        metrics = {"hparam/best_val_accuracy": finished.best_val_accuracy or 0.0,
                   "hparam/epochs_done": finished.epochs_done}
        if self._last_epoch is not None:
            metrics["hparam/final_val_loss"] = self._last_epoch.val_loss
            metrics["hparam/final_val_accuracy"] = self._last_epoch.val_accuracy
        self.writer.add_hparams(self.hparams, metrics, run_name=".")


def hyperparameters(config: RunConfig) -> dict[str, Any]:
    """The run's training choices as flat scalars, e.g. optimizer.lr, loss.name, batch_size."""
    train = config.to_plain()["train"]
    flat: dict[str, Any] = {"batch_size": config.data.planned_batch_size, "epochs": train["epochs"],
                            "precision": train["precision"], "accumulate": train["accumulate"]}
    for section in ("optimizer", "loss", "schedule"):
        for key, value in train[section].items():
            if isinstance(value, (int, float, str, bool)):
                flat[f"{section}.{key}"] = value
    return flat
