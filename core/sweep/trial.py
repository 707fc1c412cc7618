"""One sweep trial, in this process: sample, build the config, train it as an ordinary run, report each epoch.

The trial's run directory is a run like any other (Runs, evaluate, classify, resume and TensorBoard
work on it) with a sweep.json beside status.json: study, trial number, sampled values. Each epoch's
validation metric goes to the trial (`trial.report`); when the pruner says the trial is hopeless
the engine is asked to stop, exactly like a user's stop (last.pt kept), and the run's state is
`pruned`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, WorkbenchError
from core.files import atomic_write_json
from core.runs.liveness import process_identity
from core.runs.recorder import create_run
from core.runs.rundir import RunState
from core.sweep.space import SweepSpec, Value, apply_values
from core.sweep.study import REASON, RUN_DIR, VALUES_AT_FAULT, WORKER, mark_run
from core.train.events import EpochEnded, Event


class TrialStopped(Exception):
    """The user stopped the sweep during this trial: the trial is failed (not counted), its run kept as stopped."""


@dataclass
class TrialRunner:
    """The objective Optuna calls: one trial of `spec` on the raw config, trained into `runs_dir`."""

    raw: dict[str, Any]  # the config's raw data, --set overrides applied
    spec: SweepSpec
    runs_dir: Path
    should_stop: Callable[[], bool]  # the user asked the sweep to stop
    emit: Callable[[Event], None] = lambda event: None  # every engine event, for a front end to show
    device: str | None = None  # this worker's device (cuda:i), over the config's
    pruned_at: int | None = field(default=None, init=False)

    def __call__(self, trial: Any) -> float:
        import optuna

        from core.train.divergence import NonFiniteLoss
        from core.train.engine import fit
        from core.train.memory import OutOfMemory

        trial.set_user_attr(WORKER, process_identity())  # first: a worker killed from here on is found dead
        values = self.spec.sample(trial)
        try:
            config = apply_values(self.raw, self.device_values(values))
        except ConfigError as exc:  # a combination no single value showed (checked one key at a time)
            trial.set_user_attr(REASON, str(exc))
            raise
        run = create_run(self.runs_dir, f"{config.name}-trial{trial.number}", config)
        trial.set_user_attr(RUN_DIR, str(run.path))
        atomic_write_json(run.sweep_path, {"study": trial.study.study_name, "trial": trial.number, "params": values})
        self.pruned_at = None
        history: list[float] = []

        def on_event(event: Event) -> None:
            if isinstance(event, EpochEnded):
                value = getattr(event, self.spec.metric)
                history.append(value)
                trial.report(value, event.epoch)
                last = event.epoch >= event.epochs  # a trial that trained to the end is complete, whatever its value
                if self.pruned_at is None and not last and trial.should_prune():
                    self.pruned_at = event.epoch
            self.emit(event)

        try:
            result = fit(config, run, emit=on_event,
                         should_stop=lambda: self.pruned_at is not None or self.should_stop())
        except (NonFiniteLoss, OutOfMemory) as exc:  # a verdict on these values: the next trial's may do
            trial.set_user_attr(REASON, str(exc))
            trial.set_user_attr(VALUES_AT_FAULT, True)
            raise
        except WorkbenchError as exc:  # bad data, a full disk, ...: every trial would fail the same way
            trial.set_user_attr(REASON, str(exc))
            raise
        if self.pruned_at is not None:
            reason = f"pruned by the {self.spec.pruner} pruner after epoch {self.pruned_at}"
            mark_run(run, RunState.PRUNED, reason=reason)
            trial.set_user_attr(REASON, reason)
            raise optuna.TrialPruned(reason)
        if result.status == RunState.STOPPED and self.should_stop():
            trial.set_user_attr(REASON, "stopped by the user")
            raise TrialStopped(f"trial {trial.number} stopped by the user; its run: {run.path}")
        return self.best(history)

    def best(self, history: list[float]) -> float:
        """The trial's value: its best epoch's metric (the epoch best.pt holds)."""
        finite = [value for value in history if math.isfinite(value)]
        if not finite:
            return math.nan  # Optuna records a NaN value as a failed trial
        return max(finite) if self.spec.direction == "maximize" else min(finite)

    def device_values(self, values: dict[str, Value]) -> dict[str, Value]:
        return values if self.device is None else {**values, "train.device": self.device}
