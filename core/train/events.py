"""What the training engine reports: frozen dataclasses of plain values, never tensors.

Every event serialises to one JSON object with a snake_case `type` (`epoch_ended`, ...), the
line format of a run's events.jsonl; `event_from_dict` reads such a line back. A new event is one
class here: declaring it registers its type, and `core.train.describe` gives it its text.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Callable

from core.runs.rundir import CheckpointKind, RunState

EVENT_TYPES: dict[str, type[Event]] = {}  # by type name; every Event subclass adds itself as it is declared


@dataclass(frozen=True)
class Event:
    time: float = field(default_factory=time.time, kw_only=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        EVENT_TYPES[cls.type_name()] = cls

    @classmethod
    def type_name(cls) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name(), **asdict(self)}


@dataclass(frozen=True)
class DataProgress(Event):
    """Preparing the data before the first step: `done` of `total` items of one stage (e.g. images decoded)."""

    stage: str  # what is being done, e.g. "decoding images"
    done: int
    total: int


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    name: str
    device: str
    epochs: int
    classes: list[str]
    train_samples: int
    val_samples: int
    batches_per_epoch: int
    parameters: int
    skipped_files: int
    precision: str = "fp32"  # what the run trains in (a requested bf16 or fp16 can fall back)
    compiled: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. a class without validation images, nll without logsoftmax
    batch_size: int = 0  # per process, the one used (data.batch_size: auto resolves to a number)
    world_size: int = 1  # processes training together (torchrun)
    backend: str = ""  # their torch.distributed backend: gloo or nccl


class Extension(StrEnum):
    """How a run resumed with more epochs than its schedule spans goes on (`workbench --resume --extend`)."""

    FINAL_LR = "final-lr"  # the added epochs train at the lr of the schedule's last step: no jump
    RESCHEDULE = "reschedule"  # the schedule laid over the new total: the lr moves back to where that puts it


@dataclass(frozen=True)
class RunResumed(Event):
    epoch: int  # epochs completed before
    batch: int  # batches done in the next epoch (0: resumed at an epoch boundary)
    step: int  # optimizer steps taken before
    extension: str = ""  # an Extension when the run goes past its schedule's end, else ""
    schedule_epochs: int = 0  # the epochs the schedule spans now


@dataclass(frozen=True)
class BudgetPlanned(Event):
    """The run's length under train.budget (core/train/budget.py): planned after its first steps, again once
    the first validation has been timed, and once more if the speed drifts (`replanned`)."""

    steps: int  # optimizer steps in the whole run; the schedule ends there
    epochs: float  # the same in epochs (the last one may be partial)
    budget_s: float
    ends_at: float  # when the run is planned to end (time.time())
    replanned: bool = False


@dataclass(frozen=True)
class BatchEnded(Event):
    epoch: int
    batch: int
    batches: int
    step: int
    loss: float
    samples_per_second: float
    lr: float = 0.0


@dataclass(frozen=True)
class EpochEnded(Event):
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    samples_per_second: float
    data_wait: float = 0.0  # share of the training time spent waiting for batches (core/train/data_wait.py)
    system: dict[str, Any] = field(default_factory=dict)  # core.train.system.SystemSample at the epoch's end


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    kind: CheckpointKind
    epoch: int


@dataclass(frozen=True)
class RunFinished(Event):
    status: RunState  # FINISHED or STOPPED
    epochs_done: int
    best_epoch: int | None
    best_val_accuracy: float | None
    seconds: float
    run_dir: str
    reason: str = ""  # why a run ended before its last epoch (e.g. early stopping)
    first_epoch: int = 1  # the first epoch this process trained (a resumed run's: the one after its checkpoint)


@dataclass(frozen=True)
class RunFailed(Event):
    error: str
    kind: str  # "input" for a user-fixable problem, "crash" for anything else, RunState.ABORTED for a second stop
    run_dir: str

    @property
    def state(self) -> RunState:
        """The state the run ended in: aborted, or failed."""
        return RunState.ABORTED if self.kind == RunState.ABORTED else RunState.FAILED

Emit = Callable[[Event], None]


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form (unknown extra keys are ignored)."""
    cls = EVENT_TYPES[data["type"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
