"""The training engine: `fit` trains one run and reports it through events.

Front ends only watch (`emit`) and ask it to stop (`should_stop`); the engine writes the run
directory itself, so every front end produces the same runs. The loop keeps the decoded
images as one uint8 tensor on the training device and normalises each batch there.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from core.checkpoints import FORMAT, save_checkpoint
from core.config import RunConfig
from core.data.batches import Batch, Feed
from core.devices import describe_device, resolve_device
from core.errors import DataError, WorkbenchError
from core.events import BatchEnded, CheckpointSaved, Emit, EpochEnded, Event, RunFailed, RunFinished, RunStarted
from core.model.build import build_for
from core.preflight import input_shape
from core.runs import RunDir, RunRecorder

BATCH_EVENT_SECONDS = 0.25  # BatchEnded at most this often: loss.item() synchronises the device


@dataclass(frozen=True)
class RunResult:
    status: str  # "finished" or "stopped"
    run_dir: Path
    epochs_done: int
    best_epoch: int | None
    best_val_accuracy: float | None


def fit(config: RunConfig, run: RunDir, *, emit: Emit, should_stop: Callable[[], bool]) -> RunResult:
    """Train `config` into `run`; raise WorkbenchError for bad input, anything else for a crash.

    Either way the failure is recorded in the run directory (status.json, events, train.log).
    """
    recorder = RunRecorder(run, config.train.epochs)

    def report(event: Event) -> None:
        recorder.record(event)
        emit(event)

    try:
        return _Trainer(config, run, report, should_stop, recorder.log).train()
    except WorkbenchError as exc:
        report(RunFailed(error=str(exc), kind="input", run_dir=str(run.path)))
        raise
    except BaseException as exc:
        recorder.log(traceback.format_exc())
        report(RunFailed(error=f"{type(exc).__name__}: {exc}", kind="crash", run_dir=str(run.path)))
        raise
    finally:
        recorder.close()


def evaluate(model: nn.Module, batches: Iterable[Batch], device: torch.device) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of `model` over normalised batches on `device`."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    with torch.inference_mode():
        for images, labels in batches:
            logits = model(images)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            count += len(labels)
    count = max(count, 1)
    return loss_sum.item() / count, correct.item() / count


class _Trainer:
    """One run's state: data, model, optimizer and the best result so far."""

    def __init__(self, config: RunConfig, run: RunDir, emit: Emit, should_stop: Callable[[], bool],
                 log: Callable[[str], None]) -> None:
        self.config, self.run, self.emit, self.should_stop, self.log = config, run, emit, should_stop, log
        self.best_epoch: int | None = None
        self.best_accuracy: float | None = None
        self.metrics: dict[str, float] = {}

    def train(self) -> RunResult:
        started = time.perf_counter()
        torch.manual_seed(self.config.seed)
        self.device = resolve_device(self.config.train.device)
        data = Feed(self.config.data, self.config.seed, self.device)
        if data.val_count == 0:
            raise DataError(f"{data.root} gives no validation images; add a val/ folder or raise data.val_split")
        self._log_skipped(data.skipped)
        self._prepare(data)
        from torch.utils.tensorboard import SummaryWriter  # slow import, only when training

        with SummaryWriter(str(self.run.tensorboard_dir)) as self.writer:
            self.writer.add_image("samples", _sample_grid(data.sample_images()))
            epochs_done, stopped = self._epochs()
        status = "stopped" if stopped else "finished"
        self.emit(RunFinished(status=status, epochs_done=epochs_done, best_epoch=self.best_epoch,
                              best_val_accuracy=self.best_accuracy, seconds=time.perf_counter() - started,
                              run_dir=str(self.run.path)))
        return RunResult(status, self.run.path, epochs_done, self.best_epoch, self.best_accuracy)

    def _prepare(self, data: Feed) -> None:
        config = self.config
        self.data = data
        self.input_shape = input_shape(config)
        model, self.model_spec = build_for(config.model, self.input_shape, len(data.classes), config.data.batch_size)
        self.channels_last = self.device.type in ("cpu", "cuda") and any(
            isinstance(m, nn.Conv2d) for m in model.modules())
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.model = model.to(self.device, memory_format=memory_format)
        self.optimizer = _make_optimizer(self.model, config)
        data.memory_format = memory_format
        self.batches = data.batches_per_epoch
        self.emit(RunStarted(
            run_dir=str(self.run.path), name=config.name, device=describe_device(self.device),
            epochs=config.train.epochs, classes=list(data.classes), train_samples=data.train_count,
            val_samples=data.val_count, batches_per_epoch=self.batches,
            parameters=sum(p.numel() for p in self.model.parameters()), skipped_files=len(data.skipped)))

    def _epochs(self) -> tuple[int, bool]:
        """Run the epochs; return (epochs completed, whether a stop was requested)."""
        epochs = self.config.train.epochs
        for epoch in range(1, epochs + 1):
            epoch_started = time.perf_counter()
            train_loss, samples, stopped = self._train_one_epoch(epoch)
            if stopped:
                self._save("last", epoch - 1)
                return epoch - 1, True
            train_seconds = time.perf_counter() - epoch_started
            val_loss, val_accuracy = evaluate(self.model, self.data.val_batches(), self.device)
            self._log_skipped(self.data.take_skipped())
            self.metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy}
            self.emit(EpochEnded(epoch=epoch, epochs=epochs, train_loss=train_loss, val_loss=val_loss,
                                 val_accuracy=val_accuracy, lr=self.optimizer.param_groups[0]["lr"],
                                 seconds=time.perf_counter() - epoch_started,
                                 samples_per_second=samples / max(train_seconds, 1e-9)))
            self._log_epoch(epoch, val_loss, val_accuracy)
            self._save("last", epoch)
            if self.best_accuracy is None or val_accuracy > self.best_accuracy:
                self.best_epoch, self.best_accuracy = epoch, val_accuracy
                self._save("best", epoch)
            if self.should_stop():
                return epoch, epoch < epochs
        return epochs, False

    def _train_one_epoch(self, epoch: int) -> tuple[float, int, bool]:
        """One pass over the training data: (mean loss, samples seen, stopped early)."""
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        samples, last_report, window_start, window_samples = 0, time.perf_counter(), time.perf_counter(), 0
        for batch, (images, labels) in enumerate(self.data.train_batches(), start=1):
            loss = F.cross_entropy(self.model(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(labels)
            samples += len(labels)
            window_samples += len(labels)
            now = time.perf_counter()
            if now - last_report >= BATCH_EVENT_SECONDS or batch == self.batches:
                step = (epoch - 1) * self.batches + batch
                value = loss.item()
                self.writer.add_scalar("train/loss", value, step)
                self.emit(BatchEnded(epoch=epoch, batch=batch, batches=self.batches, step=step, loss=value,
                                     samples_per_second=window_samples / max(now - window_start, 1e-9)))
                last_report, window_start, window_samples = now, now, 0
            if self.should_stop():
                return loss_sum.item() / max(samples, 1), samples, True
        return loss_sum.item() / max(samples, 1), samples, False

    def _log_skipped(self, skipped: list) -> None:
        for file in skipped:
            self.log(f"skipped {file.path}: {file.reason}")

    def _log_epoch(self, epoch: int, val_loss: float, val_accuracy: float) -> None:
        self.writer.add_scalar("val/loss", val_loss, epoch)
        self.writer.add_scalar("val/accuracy", val_accuracy, epoch)
        self.writer.flush()

    def _save(self, kind: str, epoch: int) -> None:
        path = self.run.checkpoints_dir / f"{kind}.pt"
        checkpoint = self._checkpoint(epoch)
        if kind == "last":
            checkpoint["optimizer"] = self.optimizer.state_dict()
        save_checkpoint(path, checkpoint)
        self.emit(CheckpointSaved(path=str(path), kind=kind, epoch=epoch))

    def _checkpoint(self, epoch: int) -> dict[str, Any]:
        state = {k: v.detach().to("cpu", memory_format=torch.contiguous_format)
                 for k, v in self.model.state_dict().items()}
        return {
            "format": dict(FORMAT),
            "model": self.model_spec,
            "state_dict": state,
            "classes": list(self.data.classes),
            "preprocess": {"image_size": list(self.config.data.image_size), "channels": self.config.data.channels,
                           "resize": self.config.to_plain()["data"]["resize"],
                           "mean": list(self.data.mean), "std": list(self.data.std)},
            "config": self.config.to_plain(),
            "epoch": epoch,
            "metrics": dict(self.metrics),
        }


def _make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    opt = config.train.optimizer
    if opt.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)


def _sample_grid(images: torch.Tensor) -> torch.Tensor:
    from torchvision.utils import make_grid

    return make_grid(images, nrow=8)
