"""train.budget: the duration key, the planner on a fake clock, and schedules rebuilt for a plan."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from core.config import parse_config, parse_duration
from core.errors import ConfigError
from core.recipe.schedules import SCHEDULES, Schedule, Steps
from core.train.budget import LATE_SHARE, RESERVE_SECONDS, RESERVE_SHARE, BudgetPlanner, LaterSteps, Plan

PER_EPOCH = 50
EVERY_SCHEDULE = {
    "constant": {"warmup_epochs": 1.5},
    "step": {"step_size": 2, "gamma": 0.5},
    "multistep": {"milestones": [1, 3], "gamma": 0.3},
    "exponential": {"gamma": 0.8},
    "linear": {"end_factor": 0.1},
    "cosine": {"eta_min": 0.001, "warmup_epochs": 0.5},
    "one_cycle": {"pct_start": 0.3},
}


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("1.5h", 5400), ("600", 600),
                                          (45, 45), (" 20 S ", 20)])
def test_durations_read_with_their_unit(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15x", "m", "0", "-3m", "inf", "400d"])
def test_a_bad_budget_names_the_key_and_shows_examples(text) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("model: {layers: [flatten, {linear: {out_features: auto}}]}", [f"train.budget={text}"])
    assert "train.budget" in str(raised.value) and "15m" in str(raised.value)


def test_the_budget_stays_as_written() -> None:
    config = parse_config("model: {layers: [flatten]}\ntrain: {budget: 15m}")
    assert config.to_plain()["train"]["budget"] == "15m" and config.train.budget_seconds == 900


def make_schedule(name: str, total: int, lr: float = 0.1) -> tuple[torch.optim.Optimizer, Schedule]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    params = SCHEDULES.model(name).model_validate({"name": name, **EVERY_SCHEDULE[name]})
    return optimizer, Schedule(optimizer, params, Steps(PER_EPOCH, total))


def step(optimizer: torch.optim.Optimizer, schedule: Schedule) -> None:
    optimizer.step()
    schedule.step()


@pytest.mark.parametrize("name", SCHEDULES.names)
def test_a_replanned_schedule_goes_on_as_if_built_for_the_new_length(name) -> None:
    optimizer, replanned = make_schedule(name, total=PER_EPOCH * 40)
    fresh_optimizer, fresh = make_schedule(name, total=180)
    for _ in range(20):
        step(optimizer, replanned)
        step(fresh_optimizer, fresh)
    replanned.replan(180)
    for _ in range(20, 180):
        assert replanned.lr == pytest.approx(fresh.lr, rel=1e-9, abs=1e-15)
        assert optimizer.param_groups[0]["momentum"] == pytest.approx(fresh_optimizer.param_groups[0]["momentum"])
        step(optimizer, replanned)
        step(fresh_optimizer, fresh)


@dataclass
class FakeRun:
    """The engine's loop around a planner on a fake clock: a step takes `step_seconds(step)`, a validation
    `eval_seconds`."""

    budget: float
    step_seconds: Callable[[int], float]
    eval_seconds: float = 2.0
    first_eval_seconds: float | None = None  # the first validation's, when a busy moment slowed it
    prepare_seconds: float = 30.0  # the data's preparation, before the first epoch
    final_eval_factor: float = 1.0  # the last validation's cost in validations (train.final_tta)
    planned_final_eval: bool = True  # whether the planner is told of it
    later_steps: LaterSteps | None = None  # what the planner is told of steps that cost more late in the run
    max_epochs: int = 1000
    schedule_name: str = "one_cycle"
    now: float = 0.0
    step: int = 0
    plans: list[Plan] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)  # the lr each step trained with

    def __post_init__(self) -> None:
        self.planner = self.new_planner(started=0.0)
        self.optimizer, self.schedule = make_schedule(self.schedule_name, PER_EPOCH * self.max_epochs)
        self.now = self.prepare_seconds

    def new_planner(self, started: float) -> BudgetPlanner:
        return BudgetPlanner(self.budget, started=started, steps_per_epoch=PER_EPOCH,
                             max_steps=PER_EPOCH * self.max_epochs, eval_steps=5, clock=lambda: self.now,
                             final_eval_factor=self.final_eval_factor if self.planned_final_eval else 1.0,
                             later_steps=self.later_steps)

    def follow(self, plan: Plan | None) -> None:
        if plan is not None:
            self.planner.adopt(plan)
            self.schedule.replan(plan.steps)
            self.plans.append(plan)

    def train(self, stop_at: int | None = None) -> float:
        """Epochs until the plan is done (or step `stop_at`); the time at the end, after the last validation."""
        while self.step < PER_EPOCH * self.max_epochs:
            self.follow(self.planner.epoch_started(self.step))
            if self.planner.done(self.step):
                break
            while True:
                self.lrs.append(self.schedule.lr)
                self.now += self.step_seconds(self.step)
                self.step += 1
                step(self.optimizer, self.schedule)
                self.follow(self.planner.after_step(self.step))
                if self.step == stop_at:
                    return self.now
                if self.planner.done(self.step) or self.step % PER_EPOCH == 0:
                    break
            self.planner.evaluation_started()
            first = self.first_eval_seconds is not None and self.step <= PER_EPOCH
            last = self.planner.done(self.step)
            self.now += (self.first_eval_seconds if first else self.eval_seconds) * (self.final_eval_factor if last else 1)
        return self.now

    def resumed(self, restart_seconds: float) -> None:
        """A stop here, and a resume `restart_seconds` later from what last.pt keeps."""
        state = self.planner.state_dict()
        self.now += restart_seconds
        self.planner = self.new_planner(started=self.now - 5.0)  # the new process began 5 s before this
        self.planner.load_state_dict(state)
        self.planner.epoch_started(self.step)
        self.schedule.replan(self.planner.plan.steps if self.planner.plan else PER_EPOCH * self.max_epochs)

    def planned_end(self) -> float:
        return self.budget - RESERVE_SECONDS - RESERVE_SHARE * self.budget

    def ends_on_time(self, end: float) -> bool:
        """By the budget (less its reserve), and at most one validation early: an epoch more would add one."""
        return self.planned_end() - self.eval_seconds <= end <= self.planned_end()


def final_lr(name: str, steps: int) -> float:
    """The lr of a run's last step under a schedule built for exactly `steps` steps."""
    optimizer, schedule = make_schedule(name, steps)
    for _ in range(steps - 1):
        step(optimizer, schedule)
    return schedule.lr


@pytest.mark.parametrize("factor", [2.0, 0.5])
@pytest.mark.parametrize("name", ["one_cycle", "cosine", "step"])
def test_the_schedule_ends_at_the_budget_on_a_machine_slower_or_faster_than_first_measured(name, factor) -> None:
    run = FakeRun(900, lambda step: 0.1 if step < 200 else 0.1 * factor, schedule_name=name)
    end = run.train()
    assert run.ends_on_time(end)
    if factor > 1:  # slower: the drift re-plan; faster: the time saved extends the plan before a drift is confirmed
        assert [plan.replanned for plan in run.plans] == [False] * (len(run.plans) - 1) + [True]
    else:
        assert run.plans[-1].steps > run.plans[-2].steps
    assert run.step == run.plans[-1].steps
    assert run.lrs[-1] == pytest.approx(final_lr(name, run.step), rel=1e-9, abs=1e-15)


def test_a_steady_machine_is_planned_once_and_fixed_after_the_first_validation() -> None:
    run = FakeRun(610, lambda step: 0.2, eval_seconds=6.0)
    end = run.train()
    assert [plan.replanned for plan in run.plans] == [False, False]  # the first steps, then with the validation timed
    assert run.ends_on_time(end)
    assert run.plans[-1].steps % PER_EPOCH != 0  # the last epoch is partial


def test_a_last_validation_with_more_views_is_planned_for() -> None:
    """train.final_tta: flip_shift validates the last epoch with six views where the others take two."""
    told, untold = (FakeRun(610, lambda step: 0.2, eval_seconds=6.0, final_eval_factor=3.0, planned_final_eval=known)
                    for known in (True, False))
    assert told.ends_on_time(told.train())
    assert untold.train() > untold.planned_end() + 10  # the 12 s more, had the planner not known


def test_steps_that_cost_more_late_in_the_run_are_planned_at_their_cost_not_cut_when_they_come() -> None:
    """whole_images_from: 0.8 after 28x28 crops of 32x32 images: the last fifth of the steps, wherever the plan
    puts it, takes 1.31x as long as the crops before."""
    later = LaterSteps(0.8, 32 * 32 / (28 * 28))
    told, untold = (FakeRun(900, lambda step: 0.0, later_steps=later if known else None) for known in (True, False))
    for run in (told, untold):
        run.step_seconds = lambda step, run=run: 0.1 * (later.cost if step / run.schedule.steps.total >= 0.8 else 1)
    assert told.ends_on_time(told.train())
    assert told.step == told.plans[0].steps  # the first plan is the run
    untold.train()
    assert untold.plans[0].steps > 1.03 * untold.step  # planned long, and cut when the costly steps came
    assert untold.plans[-1].steps < max(plan.steps for plan in untold.plans)


def test_later_steps_count_their_extra_cost_only_past_their_share_of_the_run() -> None:
    later = LaterSteps(0.8, 1.5)
    assert later.work(0, 80, total=100) == 80  # all before step 80
    assert later.work(70, 90, total=100) == 10 + 10 * 1.5
    assert later.work(0, 100, total=100) == 80 + 20 * 1.5
    assert later.work(0, 100, total=200) == 100  # a longer plan moves the later steps on


def test_a_first_validation_slowed_by_a_busy_moment_is_not_planned_with_for_the_whole_run() -> None:
    run = FakeRun(60, lambda step: 0.02, eval_seconds=0.05, first_eval_seconds=0.5, prepare_seconds=7)
    end = run.train()
    assert [plan.replanned for plan in run.plans] == [False, False, False]  # the steps, the slow one, the next
    assert run.plans[1].steps < run.plans[2].steps
    assert run.ends_on_time(end)


def test_a_plan_that_runs_late_under_load_coming_and_going_is_cut_to_keep_the_deadline() -> None:
    def seconds(step: int) -> float:  # busy from step 200 (the one re-plan), busier still for a spell later
        return 0.02 if step < 200 else 0.12 if 500 <= step < 650 else 0.05

    run = FakeRun(60, seconds, eval_seconds=0.2, prepare_seconds=5)
    end = run.train()
    replanned = [plan for plan in run.plans if plan.replanned]
    assert any(later.steps < plan.steps for plan, later in zip(replanned, replanned[1:]))  # cut in the busier spell
    assert 0.9 * run.budget <= end <= run.planned_end()  # without the cuts: 68 s, 14% past the deadline


@pytest.mark.parametrize("slower", [1.03, 1.06, 1.1])
def test_a_machine_a_little_slower_than_planned_too_little_for_a_drift_still_ends_by_the_deadline(slower) -> None:
    """The 15-minute CIFAR-10 run that planned ten epochs and ended 22 s late: each few per cent piles up."""
    run = FakeRun(900, lambda step: 0.1 if step < 200 else 0.1 * slower, final_eval_factor=6.0)
    end = run.train()
    reserve = run.budget - run.planned_end()  # kept back for the process's end
    assert run.planned_end() - LATE_SHARE * run.budget <= end <= run.planned_end() + reserve / 2
    assert run.step == run.plans[-1].steps


def test_an_epochs_costly_first_step_is_not_taken_for_a_slower_machine() -> None:
    """Each epoch's first step prepares its batches: a window that starts there runs slow, the epoch does not."""
    run = FakeRun(900, lambda step: 0.6 + (3.0 if step % PER_EPOCH == 0 else 0.0))  # an epoch longer than a window
    end = run.train()
    assert all(later.steps >= plan.steps for plan, later in zip(run.plans[1:], run.plans[2:]))  # never cut
    assert run.planned_end() - LATE_SHARE * run.budget - run.eval_seconds <= end <= run.planned_end()


def test_a_drift_triggers_exactly_one_re_plan() -> None:
    speeds = {200: 0.1, 1200: 0.2}  # twice as slow from step 200, then back after step 1200: no second re-plan
    run = FakeRun(900, lambda step: speeds[200] if step < 200 or step >= 1200 else speeds[1200])
    run.train()
    assert sum(later.replanned and not plan.replanned for plan, later in zip(run.plans, run.plans[1:])) == 1


def test_time_saved_after_a_re_plan_in_a_slow_spell_is_trained() -> None:
    speeds = {200: 0.1, 1200: 0.2}  # the one re-plan is made at the slow speed; the machine then frees up
    run = FakeRun(900, lambda step: speeds[200] if step < 200 or step >= 1200 else speeds[1200])
    end = run.train()
    # within the share that triggers a plan; planned at the slow speed alone it ended 4.1 minutes early
    assert run.planned_end() - LATE_SHARE * run.budget - run.eval_seconds <= end <= run.planned_end()
    assert run.plans[-1].steps > max(plan.steps for plan in run.plans if plan.replanned and plan is not run.plans[-1])
    assert run.lrs[-1] == pytest.approx(final_lr("one_cycle", run.step), rel=1e-9, abs=1e-15)


def test_resume_mid_budget_keeps_the_plan_and_the_time_left() -> None:
    run = FakeRun(900, lambda step: 0.1)
    run.train(stop_at=3010)
    planned, stopped_at = run.planner.plan, run.now
    run.resumed(restart_seconds=3600)  # an hour later: the budget counts the processes' time, not the pause
    assert run.planner.plan == planned
    assert run.planner.deadline == pytest.approx(run.now - 5.0 + 900 - stopped_at)
    end = run.train()
    assert run.step == planned.steps
    assert run.lrs[-1] == pytest.approx(final_lr("one_cycle", run.step), rel=1e-9, abs=1e-15)
    budget_spent = end - 3600 + 5.0  # the pause left out, the new process's start counted
    assert run.ends_on_time(budget_spent - 5.0)  # late by that start only: the plan is kept


def test_train_epochs_stays_the_most_a_budget_trains() -> None:
    run = FakeRun(900, lambda step: 0.1, max_epochs=3)
    run.train()
    assert run.step == 3 * PER_EPOCH and run.plans[-1].steps == 3 * PER_EPOCH


def test_a_budget_spent_before_training_stops_after_the_measured_steps() -> None:
    run = FakeRun(20, lambda step: 0.5, prepare_seconds=25)
    run.train()
    assert run.plans[0].steps == run.step < 20


def test_a_deadline_passed_before_the_speed_is_measured_stops_at_once() -> None:
    run = FakeRun(20, lambda step: 2.0, prepare_seconds=19)
    run.train()
    assert run.plans[0].steps == run.step == 1


def test_a_plan_whose_schedule_has_ended_is_never_extended() -> None:
    run = FakeRun(18, lambda step: 0.2, eval_seconds=0.1, prepare_seconds=5)  # planned to end with the first epoch
    run.train()  # its validation, far quicker than estimated, leaves time: the run ends all the same
    assert [plan.steps for plan in run.plans] == [PER_EPOCH] and run.step == PER_EPOCH


def test_a_machine_that_slows_down_ten_fold_is_re_planned_in_time() -> None:
    run = FakeRun(30, lambda step: 0.04 if step < 150 else 0.4, prepare_seconds=12, eval_seconds=0.3)
    end = run.train()
    assert run.plans[-1].replanned and run.ends_on_time(end)


def test_a_first_plan_made_in_a_slow_warm_up_is_extended_once_not_step_by_step() -> None:
    run = FakeRun(900, lambda step: 1.0 if step < 12 else 0.1)  # the first timed steps ten times slower
    end = run.train()
    extended = [later for plan, later in zip(run.plans, run.plans[1:]) if later.steps > plan.steps]
    assert run.plans[0].steps < 1000 and 1 <= len(extended) <= 2 and len(run.plans) <= 5
    assert run.planned_end() - LATE_SHARE * run.budget - run.eval_seconds <= end <= run.planned_end()
