"""The training engine: `fit` trains one run and reports it through events.

Front ends only watch (`emit`) and ask it to stop (`should_stop`); the engine writes the run
directory through its subscribers (the run recorder and TensorBoard), so every front end
produces the same runs. The loop keeps the decoded images as one uint8 tensor on the training
device and normalises each batch there. The optimizer, loss and schedule come from the tables
in core/recipe.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
import traceback
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from core.model.checkpoints import FORMAT, save_checkpoint
from core.config import AUTO_BATCH_START, RunConfig
from core.data.batches import Batch, Feed
from core.data.sources import list_data
from core.data.tta import POLICIES as TTA_POLICIES, tta_outputs
from core.prepare.devices import autocast_dtype, describe_device, resolve_device
from core.train.budget import EVAL_COST, BudgetPlanner, LaterSteps, Plan
from core.train.distributed import World, any_across, from_main, main_first, rank_device, sum_across
from core.errors import DataError, WorkbenchError
from core.train.data_wait import DataWait
from core.train.cpu_memory import keep_freed_memory
from core.train.divergence import LossGuard, check_finite_weights
from core.train.system import SystemMonitor
from core.train.events import (BatchEnded, BudgetPlanned, CheckpointSaved, DataProgress, Emit, EpochEnded, Event,
                               Extension, RunFailed, RunFinished, RunResumed, RunStarted)
from core.train.lookahead import Lookahead
from core.train.memory import find_batch_size, is_out_of_memory, out_of_memory, with_batch_size
from core.model.build import build_for
from core.model.modules import init_from_data
from core.prepare.preflight import crop_error, input_shape, loss_warnings
from core.recipe.early_stopping import EarlyStopper
from core.recipe.losses import LOSSES
from core.recipe.optimizers import OPTIMIZERS
from core.recipe.schedules import Schedule, Steps
from core.train.resume import Position, restore_rng, rng_state, schedule_span
from core.runs.rundir import CheckpointKind, RunDir, RunState
from core.runs.recorder import RunRecorder
from core.train.tensorboard import TensorBoardLog

BATCH_EVENT_SECONDS = 0.25  # BatchEnded at most this often: loss.item() synchronises the device
DATA_PROGRESS_SECONDS = 0.5  # DataProgress once a preparation stage takes this long, then at most this often
SYNC_EVERY = 8  # under torchrun, ranks agree on stopping every this many batches
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RunResult:
    status: RunState  # FINISHED or STOPPED
    run_dir: Path | None  # None on the torchrun ranks that write no run directory
    epochs_done: int
    best_epoch: int | None
    best_val_accuracy: float | None


def fit(config: RunConfig, run: RunDir | None, *, emit: Emit, should_stop: Callable[[], bool],
        resume: dict[str, Any] | None = None, extension: Extension = Extension.FINAL_LR,
        world: World = World(), started: float | None = None) -> RunResult:
    """Train `config` into `run`; raise WorkbenchError for bad input, anything else for a crash.

    `resume` is the run's last.pt (see core.train.resume.load_resume): training continues where it
    stopped; given more epochs than its schedule spans, `extension` says how the schedule goes on. Under
    torchrun `world` is this process's place; ranks other than 0 pass run=None and write nothing. A failure
    is recorded in the run directory (status.json, events, train.log). `started` (time.monotonic()) is
    when the command began, what train.budget counts from (default: now).
    """
    resumed_at = None if resume is None else resume["position"]["epoch"]
    recorder = RunRecorder(run, config.train.epochs, resumed_at=resumed_at) if run is not None else None
    log = recorder.log if recorder is not None else (lambda text: None)
    tensorboard: TensorBoardLog | None = None
    run_dir = str(run.path) if run is not None else ""

    def report(event: Event) -> None:
        for subscriber in (recorder, tensorboard):
            if subscriber is not None:
                subscriber.record(event)
        emit(event)

    try:
        if run is not None:
            tensorboard = TensorBoardLog(run.tensorboard_dir, config, log)
        with deterministic(config.train.deterministic):
            trainer = _Trainer(config, run, report, should_stop, log, tensorboard, resume, world, extension)
            return trainer.train(time.monotonic() if started is None else started)
    except WorkbenchError as exc:
        report(RunFailed(error=str(exc), kind="input", run_dir=run_dir))
        raise
    except KeyboardInterrupt:  # a second stop signal, or one before training began: stopped at once
        report(RunFailed(error="aborted: stopped at once, nothing saved since the last checkpoint",
                         kind=RunState.ABORTED, run_dir=run_dir))
        raise
    except BaseException as exc:
        log(traceback.format_exc())
        report(RunFailed(error=f"{type(exc).__name__}: {exc}", kind="crash", run_dir=run_dir))
        raise
    finally:
        for subscriber in (tensorboard, recorder):
            if subscriber is not None:
                subscriber.close()


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """torch.use_deterministic_algorithms for the run (restored after it), cuDNN autotuning off."""
    if not enabled:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for determinism
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass


def evaluate(model: nn.Module, batches: Iterable[Batch], loss_fn: Loss,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             world: World = World(), tta: str = "none") -> tuple[float, float]:
    """Mean loss (the training loss, batch means weighted by batch size) and accuracy over normalised
    batches; under torchrun over every rank's share. `tta` names the test-time augmentation policy
    (core/data/tta.py) whose views' outputs are averaged."""
    model.eval()
    loss_sum, correct, count = torch.zeros(()), torch.zeros((), dtype=torch.long), 0
    with torch.inference_mode():
        for images, labels in batches:
            with autocast():
                logits = tta_outputs(model, images, tta)
                loss = loss_fn(logits, labels).float() * len(labels)
            loss_sum = loss_sum.to(loss.device) + loss
            correct = correct.to(loss.device) + (logits.argmax(1) == labels).sum()
            count += len(labels)
    loss_sum, correct, total = sum_across(world, loss_sum, correct, torch.tensor(float(count)))
    if total.item() == 0:
        return 0.0, 0.0
    return loss_sum.item() / total.item(), correct.item() / total.item()


def train_mode(model: nn.Module) -> None:
    """model.train(), except batch-norm layers whose parameters are frozen: their statistics stay put."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parameters = list(module.parameters(recurse=False))
            if parameters and not any(p.requires_grad for p in parameters):
                module.eval()


class _Trainer:
    """One run's state: data, model, optimizer, schedule and the best result so far."""

    def __init__(self, config: RunConfig, run: RunDir | None, emit: Emit, should_stop: Callable[[], bool],
                 log: Callable[[str], None], tensorboard: TensorBoardLog | None, resume: dict[str, Any] | None,
                 world: World, extension: Extension = Extension.FINAL_LR) -> None:
        self.config, self.run, self.emit, self.should_stop, self.log = config, run, emit, should_stop, log
        self.tensorboard, self.resume, self.world, self.extension = tensorboard, resume, world, extension
        self.extended = False  # resumed past the end of its schedule
        self.run_dir = str(run.path) if run is not None else ""
        self.position = Position(0)
        self.best_epoch: int | None = None
        self.best_accuracy: float | None = None
        self.metrics: dict[str, float] = {}
        self.step = 0  # optimizer steps taken
        self.budget: BudgetPlanner | None = None  # plans the steps under train.budget
        self._progress_at, self._progress_shown = 0.0, False  # the stage's start or last DataProgress; any yet
        self.data_wait, self.system = DataWait(), SystemMonitor()  # is it input-bound; what the machine is doing

    def train(self, command_started: float) -> RunResult:
        started = time.perf_counter()
        seed_everything(self.config.seed)
        self.device = rank_device(self.world, resolve_device(self.config.train.device))
        if self.device.type == "cpu" and self.config.train.reuse_cpu_memory and keep_freed_memory():
            self.log("CPU memory: freed blocks are kept for the next step (train.reuse_cpu_memory)")
        if self.config.data.batch_size == "auto":
            self.config = with_batch_size(self.config, self._largest_batch_size())
        with main_first(self.world):
            data = Feed(self.config.data, self.config.seed, self.device, self.world, progress=self._data_progress)
        if data.val_count == 0:
            raise DataError(f"{data.root} gives no validation images; add a val/ folder or raise data.val_split")
        self._log_skipped(data.skipped)
        self._prepare(data)
        self.budget = self._budget_planner(command_started)
        if self.resume is not None:
            self._restore(self.resume)
        first_epoch = self.position.epoch + 1
        try:
            epochs_done, stopped, reason = self._epochs()
        except Exception as exc:
            if is_out_of_memory(exc):
                raise out_of_memory(self.device, self.config.data.planned_batch_size) from exc
            raise
        status = RunState.STOPPED if stopped else RunState.FINISHED
        self.emit(RunFinished(status=status, epochs_done=epochs_done, best_epoch=self.best_epoch,
                              best_val_accuracy=self.best_accuracy, seconds=time.perf_counter() - started,
                              run_dir=self.run_dir, reason=reason, first_epoch=first_epoch))
        return RunResult(status, self.run.path if self.run else None, epochs_done, self.best_epoch, self.best_accuracy)

    def _data_progress(self, stage: str, done: int, total: int) -> None:
        """DataProgress while the data is prepared, for a stage that lasts: every DATA_PROGRESS_SECONDS, and its end."""
        now = time.monotonic()
        if done == 0:
            self._progress_at, self._progress_shown = now, False
        if now - self._progress_at >= DATA_PROGRESS_SECONDS or (done >= total and self._progress_shown):
            self._progress_at, self._progress_shown = now, True
            self.emit(DataProgress(stage=stage, done=done, total=total))

    def _largest_batch_size(self) -> int:
        """batch_size: auto, probed with a throwaway copy of the model before the data is decoded."""
        listing = list_data(self.config.data, self.config.seed)
        shape = input_shape(self.config)

        def make_model() -> nn.Module:
            return build_for(self.config.model, shape, len(listing.classes), AUTO_BATCH_START)[0]

        return find_batch_size(make_model, shape, self.device, max(len(listing.train), 1), self.log)

    def _prepare(self, data: Feed) -> None:
        config, train = self.config, self.config.train
        self.data = data
        self.input_shape = input_shape(config)
        model, self.model_spec = build_for(config.model, self.input_shape, len(data.classes), config.data.planned_batch_size)
        cropped_out = crop_error(config, len(data.classes))
        if cropped_out is not None:
            raise cropped_out
        self.channels_last = self.device.type in ("cpu", "cuda") and any(
            isinstance(m, nn.Conv2d) for m in model.modules())
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.model = model.to(self.device, memory_format=memory_format)  # type: ignore[call-overload]  # torch's stubs omit it
        if self.resume is None:  # a resume brings the weights
            self._init_from_data(data)
        data.memory_format = memory_format
        self.batches = data.batches_per_epoch
        self.loss_fn = LOSSES[train.loss.name].build(train.loss, data.train_class_counts, list(data.classes))
        self.loss_fn = self.loss_fn.to(self.device)
        self.optimizer = OPTIMIZERS[train.optimizer.name].build(self.model, train.optimizer)
        self.lookahead = Lookahead(self.optimizer, **train.lookahead.model_dump()) if train.lookahead else None
        steps_per_epoch = -(-self.batches // train.accumulate)
        span = run_steps = steps_per_epoch * train.epochs
        if self.resume is not None and train.budget is None:  # under a budget its plan sets the span (_restore)
            span, self.extended = schedule_span(self.resume, steps_per_epoch, run_steps, self.extension)
        self.schedule = Schedule(self.optimizer, train.schedule, Steps(steps_per_epoch, span), hold=span < run_steps)
        self.lr = self.schedule.lr
        self._prepare_precision()
        self.early_stopper = EarlyStopper(train.early_stopping) if train.early_stopping else None
        self.guard = LossGuard(self.device, self.batches, train.on_nan, self.log)
        example = torch.zeros(1, *self.input_shape, device=self.device).contiguous(memory_format=memory_format)
        self._check_outputs(example, len(data.classes))
        if self.resume is None and self.tensorboard is not None:
            self.tensorboard.add_model(self.model, example, data.sample_images())
        self.parallel = self._parallel()
        self.forward = self._compiled(self.parallel)
        self.emit(RunStarted(
            run_dir=self.run_dir, name=config.name, device=describe_device(self.device),
            epochs=train.epochs, classes=list(data.classes), train_samples=data.train_count,
            val_samples=data.val_count, batches_per_epoch=self.batches, batch_size=config.data.planned_batch_size,
            parameters=sum(p.numel() for p in self.model.parameters()), skipped_files=len(data.skipped),
            precision=self.precision, compiled=self.compiled, warnings=self._loss_warnings() + self._data_warnings(),
            world_size=self.world.size, backend=self.world.backend or ""))

    def _init_from_data(self, data: Feed) -> None:
        """Layers that set their weights from the training data (core/model/modules.py). Under torchrun every rank
        computes from the same images (and DistributedDataParallel starts every rank from rank 0's weights anyway)."""
        layers, images = init_from_data(self.model, data.normalised_sample, self.input_shape)
        if layers:
            self.log(f"{layers} layer(s) set from {images} training images before training")

    def _check_outputs(self, example: torch.Tensor, classes: int) -> None:
        """The model must give one output per class: caught before the first step, not as an index error."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            outputs = self.model(example)
        self.model.train(was_training)
        if outputs.dim() != 2 or outputs.shape[1] != classes:
            raise DataError(f"the model gives outputs of shape {list(outputs.shape[1:])} per image but the data has "
                            f"{classes} classes; its last layer must give {classes} (linear out_features: auto)")

    def _loss_warnings(self) -> list[str]:
        """What the loss makes of the model's last layer, e.g. nll without logsoftmax (a loss below zero)."""
        found = loss_warnings(self.config)
        for text in found:
            self.log(f"warning: {text}")
        return found

    def _data_warnings(self) -> list[str]:
        """Classes without validation images: their accuracy is never measured (an error with on_error: fail);
        a last training batch too small to train on, left out of every epoch."""
        found = []
        missing = [name for name, count in zip(self.data.classes, self.data.val_class_counts) if count == 0]
        if missing:
            text = (f"no validation images for class {', '.join(missing)}: val_accuracy leaves "
                    f"{'it' if len(missing) == 1 else 'them'} out")
            if self.config.data.on_error == "fail":
                raise DataError(text + " (data.on_error is fail)")
            found.append(text)
        left_out = self.data.train_left_out
        if left_out:
            found.append(f"each epoch leaves out its last {left_out} training image(s): as a batch they would give a "
                         "process a single image, which batch norm cannot train on")
        for text in found:
            self.log(f"warning: {text}")
        return found

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from last.pt: weights, optimizer, schedule, scaler, position, best, RNGs (in that order)."""
        self.model.load_state_dict(checkpoint["state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.lookahead is not None:
            self.lookahead.load_state_dict(checkpoint["lookahead"])
        self.schedule.load_state_dict(checkpoint["schedule"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.step = int(checkpoint["step"])
        self.position = Position(**checkpoint["position"])
        best = checkpoint["best"]
        self.best_epoch, self.best_accuracy = best["epoch"], best["val_accuracy"]
        self.metrics = dict(checkpoint["metrics"])
        if self.early_stopper is not None and checkpoint["early_stopping"]:
            self.early_stopper.best, self.early_stopper.best_epoch = checkpoint["early_stopping"]
        restore_rng(checkpoint["rng"], self.data)
        if self.budget is not None and checkpoint.get("budget"):  # the plan goes on with the budget's time left
            self.budget.load_state_dict(checkpoint["budget"])
            if self.budget.plan is not None:
                self.schedule.replan(self.budget.plan.steps)
        self.lr = self.schedule.lr
        steps = self.schedule.steps
        self.emit(RunResumed(epoch=self.position.epoch, batch=self.position.batch, step=self.step,
                             extension=self.extension if self.extended else "",
                             schedule_epochs=steps.total // max(steps.per_epoch, 1)))

    def _prepare_precision(self) -> None:
        dtype, note = autocast_dtype(self.device, self.config.train.precision)
        if note:
            self.log(note)
        self.precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
        self.autocast_dtype = dtype
        self.scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16 and self.device.type == "cuda")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _parallel(self) -> nn.Module:
        """Under torchrun, the model wrapped in DistributedDataParallel (gradients averaged over ranks)."""
        if not self.world.distributed:
            return self.model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids)

    def _gradient_sync(self, sync: bool) -> contextlib.AbstractContextManager:
        """Under torchrun, DDP all-reduces the gradients in every backward; while accumulating, only the group's
        last micro-batch needs it: the others add to the local gradients, which that one reduction averages."""
        if sync or not isinstance(self.parallel, DistributedDataParallel):
            return contextlib.nullcontext()
        return self.parallel.no_sync()

    def _compiled(self, model: nn.Module) -> nn.Module:
        """torch.compile on CUDA when asked; on other devices the eager model (it did not pay off there)."""
        self.compiled = self.config.train.compile and self.device.type == "cuda"
        if self.config.train.compile and not self.compiled:
            self.log(f"train.compile: skipped on {self.device.type}; it speeds up GPU training only")
        return cast(nn.Module, torch.compile(model)) if self.compiled else model

    def _stop_agreed(self) -> bool:
        """Whether to stop now; under torchrun every rank stops at the same batch, and a rank's
        non-finite loss stops them all. A single process reads no device flag here: its guard is
        checked where it synchronises anyway (batch reports, epoch ends, saves)."""
        if not self.world.distributed:
            return self.should_stop()
        stop, diverged = any_across(self.world, self.should_stop(), self.guard.diverged())
        if diverged:
            self.guard.check(force=True)
        return stop

    def _check_divergence(self) -> None:
        if self.world.distributed:
            _, diverged = any_across(self.world, False, self.guard.diverged())
            if diverged:
                self.guard.check(force=True)
        else:
            self.guard.check()

    def _mean_across_ranks(self, local_mean: float, samples: int) -> float:
        if not self.world.distributed:
            return local_mean
        total, count = sum_across(self.world, torch.tensor(local_mean * samples), torch.tensor(float(samples)))
        return total.item() / max(count.item(), 1.0)

    def _epochs(self) -> tuple[int, bool, str]:
        """Run the epochs; return (epochs completed, whether a stop was requested, why it ended early)."""
        epochs, start = self.config.train.epochs, self.position
        for epoch in range(start.epoch + 1, epochs + 1):
            if self.budget is not None:
                self._follow_budget(self.budget.epoch_started(self.step))
                if self.budget.done(self.step):
                    return epoch - 1, False, "time budget spent"
            epoch_started = time.perf_counter()
            resumed = start if epoch == start.epoch + 1 else Position(epoch - 1)
            train_loss, samples, stopped_at = self._train_one_epoch(epoch, resumed)
            if stopped_at is not None:
                self._save(CheckpointKind.LAST, epoch - 1, stopped_at)
                return epoch - 1, True, "stop requested"
            train_seconds = time.perf_counter() - epoch_started
            if self.budget is not None:
                self.budget.evaluation_started()
            train_loss = self._mean_across_ranks(train_loss, samples)
            last = epoch == epochs or self.budget is not None and self.budget.done(self.step)
            tta = self.config.train.final_validation_tta if last else self.config.train.validation_tta
            val_loss, val_accuracy = evaluate(self.forward, self.data.val_batches(), self.loss_fn, self.autocast,
                                              self.world, tta=tta)
            self._log_skipped(self.data.take_skipped())
            self.metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy}
            self._check_divergence()
            self.emit(EpochEnded(epoch=epoch, epochs=self._planned_epochs(epochs), train_loss=train_loss,
                                 val_loss=val_loss, val_accuracy=val_accuracy, lr=self.lr,
                                 seconds=time.perf_counter() - epoch_started,
                                 samples_per_second=samples / max(train_seconds, 1e-9),
                                 data_wait=self.data_wait.share(train_seconds), system=self.system.sample().to_dict()))
            if self.best_accuracy is None or val_accuracy > self.best_accuracy:
                self.best_epoch, self.best_accuracy = epoch, val_accuracy
                self._save(CheckpointKind.BEST, epoch)
            reason = self.early_stopper.update(epoch, self.metrics) if self.early_stopper else None
            self._save(CheckpointKind.LAST, epoch)
            if reason:
                return epoch, False, reason
            if self._stop_agreed():
                return epoch, epoch < epochs, "stop requested" if epoch < epochs else ""
        return max(epochs, start.epoch), False, ""

    def _train_one_epoch(self, epoch: int, start: Position) -> tuple[float, int, Position | None]:
        """One pass over the training data from `start`: (mean loss, samples seen, where it stopped if it did)."""
        train_mode(self.model)
        self._follow_progress()  # a resumed run's first batch too
        accumulate = self.config.train.accumulate
        loss_sum = torch.full((), float(start.loss_sum), device=self.device)
        samples, last_report, window_start, window_samples = start.samples, time.perf_counter(), time.perf_counter(), 0
        committed = start  # where the last optimizer step left the epoch: what a stop saves
        epoch_batches = self.data.train_batches(epoch, skip=start.batch)
        batches = enumerate(self.data_wait.timed(epoch_batches), start=start.batch + 1)
        for batch, (images, labels) in batches:
            group_start = (batch - 1) // accumulate * accumulate + 1
            group_size = min(accumulate, self.batches - group_start + 1)
            group_ends = batch - group_start + 1 >= group_size  # the optimizer steps after this micro-batch
            self.lr = self.schedule.lr  # the lr this batch trains with
            with self._gradient_sync(group_ends):
                with self.autocast():
                    loss = self.loss_fn(self.forward(images), labels)
                if self.guard.watch(loss, epoch, batch):
                    self.optimizer.zero_grad(set_to_none=True)
                    continue
                self.scaler.scale(loss / group_size if group_size > 1 else loss).backward()
            loss_sum += loss.detach().float() * len(labels)
            samples += len(labels)
            window_samples += len(labels)
            if group_ends:
                self._optimizer_step()
                committed = Position(epoch - 1, batch, loss_sum, samples)
                if self.budget is not None and self._budget_spent():
                    break  # the planned steps are done: this epoch ends here, validated and saved as any other
            now = time.perf_counter()
            if now - last_report >= BATCH_EVENT_SECONDS or batch == self.batches:
                if not self.world.distributed:  # ranks check together, in _stop_agreed
                    self.guard.check()
                self.emit(BatchEnded(epoch=epoch, batch=batch, batches=self.batches,
                                     step=(epoch - 1) * self.batches + batch, loss=loss.item(),
                                     samples_per_second=window_samples / max(now - window_start, 1e-9),
                                     lr=self.lr))
                last_report, window_start, window_samples = now, now, 0
            if (not self.world.distributed or batch % SYNC_EVERY == 0 or batch == self.batches) and self._stop_agreed():
                return 0.0, samples, committed
        return loss_sum.item() / max(samples, 1), samples, None

    def _budget_planner(self, command_started: float) -> BudgetPlanner | None:
        """Under train.budget, what plans the run's steps (core/train/budget.py); None without one."""
        budget, train = self.config.train.budget_seconds, self.config.train
        if budget is None:
            return None
        per_epoch = self.schedule.steps.per_epoch
        samples_per_step = self.config.data.planned_batch_size * train.accumulate * self.world.size
        views = len(TTA_POLICIES[train.validation_tta])  # each view is a forward pass over the validation set
        return BudgetPlanner(budget, started=command_started, steps_per_epoch=per_epoch,
                             max_steps=per_epoch * train.epochs,
                             eval_steps=EVAL_COST * views * self.data.val_count / samples_per_step,
                             final_eval_factor=len(TTA_POLICIES[train.final_validation_tta]) / views,
                             later_steps=self._later_steps())

    def _later_steps(self) -> LaterSteps | None:
        """Whole images after smaller crops (whole_images_from): those steps cost their pixels' ratio."""
        augment = self.config.data.augment
        if augment.whole_images_from is None or augment.random_crop_size is None:
            return None
        (height, width), (crop_height, crop_width) = self.config.data.image_size, augment.random_crop_size
        return LaterSteps(augment.whole_images_from, height * width / (crop_height * crop_width))

    def _planned_epochs(self, epochs: int) -> int:
        """The epochs the run will train: train.epochs, or under a budget its plan's (the last one counted whole)."""
        if self.budget is None or self.budget.plan is None:
            return epochs
        return min(epochs, -(-self.budget.plan.steps // self.budget.steps_per_epoch))

    def _budget_spent(self) -> bool:
        """After an optimizer step: plan when due (under torchrun every SYNC_EVERY steps); whether the plan is done."""
        assert self.budget is not None
        if not self.world.distributed or self.step % SYNC_EVERY == 0:
            self._follow_budget(self.budget.after_step(self.step))
        return self.budget.done(self.step)

    def _follow_budget(self, proposed: Plan | None) -> None:
        """Take a plan (under torchrun rank 0's): the schedule rebuilt for its steps at this step, and reported."""
        assert self.budget is not None
        if self.world.distributed:
            values = from_main(self.world, [1.0, *astuple(proposed)] if proposed else [0.0] * 6)
            chosen, steps, step_seconds, eval_seconds, ends_in, replanned = values
            proposed = Plan(int(steps), step_seconds, eval_seconds, ends_in, bool(replanned)) if chosen else None
        if proposed is None:
            return
        self.budget.adopt(proposed)
        self.schedule.replan(proposed.steps)
        self.lr = self.schedule.lr
        self.emit(BudgetPlanned(steps=proposed.steps, epochs=self.budget.epochs(proposed), budget_s=self.budget.budget,
                                ends_at=time.time() + proposed.ends_in, replanned=proposed.replanned))

    def _optimizer_step(self) -> None:
        """Clip (when asked), step, schedule, clear the gradients and sync lookahead's slow weights when due."""
        clip = self.config.train.grad_clip
        if clip is not None:
            self.scaler.unscale_(self.optimizer)
            if clip.norm is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip.norm)
            elif clip.value is not None:
                nn.utils.clip_grad_value_(self.model.parameters(), clip.value)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        self.step += 1
        self._follow_progress()
        if self.lookahead is not None:
            self.lookahead.after_step(self.step)

    def _follow_progress(self) -> None:
        """Tell the augmentation where the run is, before it draws the next batch (whole_images_from)."""
        self.data.augmenter.follow(self.step / max(self.schedule.steps.total, 1))

    def _log_skipped(self, skipped: list) -> None:
        for file in skipped:
            self.log(f"skipped {file.path}: {file.reason}")

    def _save(self, kind: CheckpointKind, epoch: int, stopped_at: Position | None = None) -> None:
        """Write best.pt or last.pt (rank 0 only), after checking that nothing diverged; last.pt can resume the run."""
        self._check_divergence()
        check_finite_weights(self.model, epoch)
        if self.run is None:
            return
        path = self.run.checkpoint_path(kind)
        checkpoint = self._checkpoint(epoch)
        if kind == CheckpointKind.LAST:
            position = stopped_at or Position(epoch)
            checkpoint.update(
                optimizer=self.optimizer.state_dict(), schedule=self.schedule.state_dict(),
                scaler=self.scaler.state_dict(), step=self.step,
                position={**asdict(position), "loss_sum": float(position.loss_sum)},
                best={"epoch": self.best_epoch, "val_accuracy": self.best_accuracy},
                early_stopping=(self.early_stopper.best, self.early_stopper.best_epoch) if self.early_stopper else None,
                budget=self.budget.state_dict() if self.budget is not None else None,
                lookahead=self.lookahead.state_dict() if self.lookahead is not None else None,
                rng=rng_state(self.data, mid_epoch=position.batch > 0))
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
