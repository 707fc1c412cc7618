"""The engine under train.budget on a clock that ticks with its steps and validations: the plan is followed,
saved and resumed."""
from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

import pytest

import core.train.engine
from core.errors import ConfigError
from core.model.checkpoints import load_checkpoint
from core.runs.recorder import create_run
from core.train.budget import BudgetPlanner, LaterSteps, Plan
from core.train.engine import fit
from core.train.events import BudgetPlanned, Event, RunFinished
from core.train.resume import load_resume

RECIPE = ["train.budget=12s", "train.epochs=200", "train.schedule={name: one_cycle, pct_start: 0.3}",
          "train.optimizer={name: sgd, lr: 0.05, momentum: 0.9}"]
PER_EPOCH = 4  # the tiny set: 120 training images in batches of 32


class WorkClock:
    """A perfectly steady machine: time passes only with work, 0.1 s an optimizer step and 0.3 s a validation."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> WorkClock:
    """The engine's planner on a WorkClock (a clock ticking at every reading would make the readings between
    steps, which no plan counts, a machine that slows down)."""
    work = WorkClock()

    class SteadyPlanner(BudgetPlanner):
        def after_step(self, step: int) -> Plan | None:
            work.now += 0.1
            return super().after_step(step)

        def evaluation_started(self) -> None:
            super().evaluation_started()
            work.now += 0.3

    monkeypatch.setattr(core.train.engine, "BudgetPlanner", partial(SteadyPlanner, clock=work))
    return work


def train(config, run, stop_when=lambda events: False, started: float = 0.0, **options) -> list[Event]:
    events: list[Event] = []
    fit(config, run, emit=events.append, should_stop=lambda: stop_when(events), started=started, **options)
    return events


def planned(events: list[Event]) -> list[BudgetPlanned]:
    return [event for event in events if isinstance(event, BudgetPlanned)]


def last_lr(run) -> float:
    with run.metrics_path.open() as handle:
        return float(list(csv.DictReader(handle))[-1]["lr"])


def test_a_budgeted_run_trains_the_planned_steps_and_ends_its_schedule(tiny, tmp_path: Path) -> None:
    config = tiny(*RECIPE)
    run = create_run(tmp_path, config.name, config)
    events = train(config, run)
    plan = planned(events)[-1]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.reason == "time budget spent"
    assert 1 < plan.epochs < 200 and plan.steps % PER_EPOCH != 0  # the last epoch is partial
    assert finished.epochs_done == -(-plan.steps // PER_EPOCH) == run.read_status()["epochs"]  # the plan's, not 200
    checkpoint = load_checkpoint(run.checkpoints_dir / "last.pt")
    assert checkpoint["step"] == plan.steps and checkpoint["budget"]["plan"]["steps"] == plan.steps
    start_lr = 0.05 / 25  # one_cycle's end: its start lr / final_div_factor
    assert last_lr(run) == pytest.approx(start_lr / 1e4, rel=0.5)


def test_a_resumed_budget_keeps_its_plan(tiny, tmp_path: Path, clock: WorkClock) -> None:
    config = tiny(*RECIPE)
    run = create_run(tmp_path, config.name, config)
    first = train(config, run, stop_when=lambda events: bool(planned(events))
                  and events[-1].type_name() == "checkpoint_saved")  # the first epoch's end after a plan
    plan = planned(first)[-1]
    assert first[-1].status == "stopped"
    with pytest.raises(ConfigError, match="train.budget"):
        load_resume(run.path, ["train.budget=1h"])  # a new budget would not fit the plan the weights follow
    config, checkpoint = load_resume(run.path)
    resumed = train(config, run, resume=checkpoint, started=clock())  # a new process starts now
    assert all(event.steps == plan.steps for event in planned(resumed)), (plan, planned(resumed))
    assert load_checkpoint(run.checkpoints_dir / "last.pt")["step"] == plan.steps
    assert resumed[-1].reason == "time budget spent"


def test_the_plans_last_epoch_validates_with_final_tta(tiny, tmp_path: Path, monkeypatch) -> None:
    from tests.core.test_training import validation_policies

    policies = validation_policies(monkeypatch)
    config = tiny(*RECIPE, "train.final_tta=flip")
    events = train(config, create_run(tmp_path, config.name, config))
    assert events[-1].reason == "time budget spent"
    assert len(policies) > 2 and policies == ["none"] * (len(policies) - 1) + ["flip"]


def test_the_plan_costs_whole_images_after_smaller_crops_at_their_pixels(tiny, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[LaterSteps | None] = []
    planner = core.train.engine.BudgetPlanner
    monkeypatch.setattr(core.train.engine, "BudgetPlanner",
                        lambda *args, **kwargs: told.append(kwargs["later_steps"]) or planner(*args, **kwargs))
    pooled = ("model.layers=[{conv2d: {out_channels: 8, kernel_size: 3}}, relu, {adaptivemaxpool2d: {output_size: 1}}, "
              "flatten, {linear: {out_features: auto}}]")
    config = tiny(*RECIPE, pooled, "data.augment.random_crop_size=12", "data.augment.whole_images_from=0.75")
    events = train(config, None)
    assert told == [LaterSteps(0.75, 16 * 16 / (12 * 12))]  # the tiny set's 16 x 16 images after 12 x 12 crops
    assert events[-1].reason == "time budget spent"
    train(tiny(*RECIPE, pooled, "data.augment.random_crop_size=12"), None)
    assert told[-1] is None  # crops to the end: every step costs the same
