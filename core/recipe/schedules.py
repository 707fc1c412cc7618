"""The learning-rate schedule table: how the lr moves over a run, with optional linear warmup.

Every schedule is stepped once per optimizer step. The epoch-based ones (step, multistep,
exponential) change the lr only at epoch boundaries, so their values per step equal torch's
scheduler of the same name stepped once per epoch; linear, cosine and one_cycle move every step, as
torch's LinearLR (total_iters = the run's steps), CosineAnnealingLR (T_max = the run's steps) and
OneCycleLR do.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from core.recipe.table import Entry, Named, Table

if TYPE_CHECKING:  # torch is imported when a schedule is built, so reading a config never loads it
    import torch
    from torch.optim.lr_scheduler import LRScheduler


@dataclass(frozen=True)
class Steps:
    """How many optimizer steps a run takes."""

    per_epoch: int
    total: int


class ScheduleParams(Named):
    warmup_epochs: float = Field(0.0, ge=0, le=1000, description="linear warmup from warmup_start_factor * lr")
    warmup_start_factor: float = Field(0.1, gt=0, le=1)


class ConstantParams(ScheduleParams):
    pass


class StepParams(ScheduleParams):
    step_size: int = Field(10, ge=1, description="epochs between lr drops")
    gamma: float = Field(0.1, gt=0, le=1, description="the lr is multiplied by this at each drop")


class MultiStepParams(ScheduleParams):
    milestones: list[int] = Field([30, 60, 90], min_length=1, max_length=1000, description="epochs at which the lr drops")
    gamma: float = Field(0.1, gt=0, le=1)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(m < 1 for m in milestones) or milestones != sorted(set(milestones)):
            raise ValueError("milestones must be increasing epoch numbers from 1")
        return milestones


class ExponentialParams(ScheduleParams):
    gamma: float = Field(0.95, gt=0, le=1, description="the lr is multiplied by this after every epoch")


class LinearParams(ScheduleParams):
    end_factor: float = Field(0.0, ge=0, le=1, description="the lr at the end of the run, as a fraction of lr")


class CosineParams(ScheduleParams):
    eta_min: float = Field(0.0, ge=0, description="the lr at the end of the run")


class OneCycleParams(ScheduleParams):
    pct_start: float = Field(0.25, gt=0, lt=1, description="fraction of the run spent raising the lr to its peak")
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = Field(25.0, ge=1, description="start lr = lr / div_factor")
    final_div_factor: float = Field(1e4, ge=1, description="end lr = start lr / final_div_factor")
    three_phase: bool = False
    cycle_momentum: bool = Field(True, description="move momentum (or Adam's beta1) against the lr")
    base_momentum: float = Field(0.85, ge=0, lt=1)
    max_momentum: float = Field(0.95, ge=0, lt=1)

    @model_validator(mode="after")
    def _momentum_order(self) -> "OneCycleParams":
        if self.base_momentum > self.max_momentum:
            raise ValueError("base_momentum must not exceed max_momentum")
        return self


def _lambda(factor):
    """A schedule given as lr factor per step, from the steps of the run."""
    def build(optimizer: torch.optim.Optimizer, params: ScheduleParams, steps: Steps) -> LRScheduler:
        from torch.optim.lr_scheduler import LambdaLR

        return LambdaLR(optimizer, lambda step: factor(params, step, steps))
    return build


def _epoch(step: int, steps: Steps) -> int:
    return step // steps.per_epoch


def _linear(params: LinearParams, step: int, steps: Steps) -> float:
    progress = min(step, steps.total) / max(steps.total, 1)
    return 1 - (1 - params.end_factor) * progress


def _cosine(params: CosineParams, step: int, steps: Steps, base_lr: float) -> float:
    progress = min(step, steps.total) / max(steps.total, 1)
    floor = params.eta_min / base_lr
    return floor + (1 - floor) * (1 + math.cos(math.pi * progress)) / 2


def _cosine_schedule(optimizer: torch.optim.Optimizer, params: CosineParams, steps: Steps) -> LRScheduler:
    from torch.optim.lr_scheduler import LambdaLR

    # a schedule rebuilt mid-run (Schedule.replan) finds the base lr in initial_lr, the current one in lr
    factors: list[Callable[[int], float]] = [partial(_cosine, params, steps=steps,
                                                     base_lr=group.get("initial_lr", group["lr"]))
                                             for group in optimizer.param_groups]
    return LambdaLR(optimizer, factors)


def _one_cycle(optimizer: torch.optim.Optimizer, params: OneCycleParams, steps: Steps) -> LRScheduler:
    from torch.optim.lr_scheduler import OneCycleLR

    options = params.model_dump(exclude={"name", "warmup_epochs", "warmup_start_factor"})
    shortest = math.ceil(2 / params.pct_start) + 1  # torch divides by zero when a phase has no steps
    peaks = [group.get("max_lr", group["lr"]) for group in optimizer.param_groups]  # rebuilt: the first build's peak
    return OneCycleLR(optimizer, max_lr=peaks,
                      total_steps=max(steps.total, shortest), **options)


SCHEDULES: Table["LRScheduler", ScheduleParams] = Table("schedule", "constant", [
    Entry("constant", ConstantParams, _lambda(lambda params, step, steps: 1.0), "the same lr throughout"),
    Entry("step", StepParams, _lambda(lambda params, step, steps: params.gamma ** (_epoch(step, steps) // params.step_size)),
          "multiply the lr by gamma every step_size epochs (StepLR)"),
    Entry("multistep", MultiStepParams,
          _lambda(lambda params, step, steps: params.gamma ** sum(_epoch(step, steps) >= m for m in params.milestones)),
          "multiply the lr by gamma at each milestone epoch (MultiStepLR)"),
    Entry("exponential", ExponentialParams, _lambda(lambda params, step, steps: params.gamma ** _epoch(step, steps)),
          "multiply the lr by gamma after every epoch (ExponentialLR)"),
    Entry("linear", LinearParams, _lambda(_linear), "straight down from lr to end_factor * lr over the run (LinearLR)"),
    Entry("cosine", CosineParams, _cosine_schedule, "cosine from lr down to eta_min over the run (CosineAnnealingLR)"),
    Entry("one_cycle", OneCycleParams, _one_cycle, "up to lr then down to nearly zero, per step (OneCycleLR)"),
])


class Schedule:
    """A table schedule with linear warmup, stepped once per optimizer step.

    With `hold` the lr stays at the value of the schedule's last step once its steps are done: a run
    extended past its schedule at the final lr (core/train/resume.py), instead of a restarted schedule.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, params: ScheduleParams, steps: Steps,
                 hold: bool = False) -> None:
        self.optimizer, self.params = optimizer, params
        self.steps = steps
        self.scheduler = SCHEDULES[params.name].build(optimizer, params, steps)
        self.warmup_steps = round(params.warmup_epochs * steps.per_epoch)
        self.start_factor = params.warmup_start_factor
        self.hold_at = max(steps.total - 1, 0) if hold else None
        self._warm()

    def step(self) -> None:
        if self.hold_at is None or self.scheduler.last_epoch < self.hold_at:
            self.scheduler.step()
            self._warm()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        """The scheduler's state and the steps the schedule spans (`span`), which a later extension needs."""
        return {**self.scheduler.state_dict(), "span": self.steps.total}

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved step, over the steps this schedule was built for (one_cycle's phases too);
        a held schedule goes back to its last step's lr (a finished run's state is one step past it)."""
        own_length = {key: state_value for key, state_value in self.scheduler.state_dict().items()
                      if key in ("total_steps", "_schedule_phases")}
        saved = {key: value for key, value in state.items() if key != "span"}
        self.scheduler.load_state_dict({**saved, **own_length})
        if self.hold_at is not None and self.scheduler.last_epoch > self.hold_at:
            self.scheduler.last_epoch = self.hold_at - 1
            self.scheduler.step()  # computes the lr at hold_at, as a step does
        self._warm()

    def replan(self, total: int) -> None:
        """Rebuild for a run of `total` steps, continuing at the current step (a time budget's plan)."""
        state = self.state_dict()
        self.steps = Steps(self.steps.per_epoch, total)
        self.scheduler = SCHEDULES[self.params.name].build(self.optimizer, self.params, self.steps)
        self.load_state_dict(state)
        self.scheduler.last_epoch -= 1  # step again onto the current step: its lr under the new length
        self.scheduler.step()
        self._warm()

    def _warm(self) -> None:
        """Scale the scheduled lr during warmup (the schedules compute each lr afresh, so this never compounds)."""
        step = self.scheduler.last_epoch
        if step < self.warmup_steps:
            factor = self.start_factor + (1 - self.start_factor) * step / self.warmup_steps
            for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
                group["lr"] = lr * factor
