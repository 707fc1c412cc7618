"""Training to a time budget: how many optimizer steps fit, so that the schedule ends at the deadline.

The clock starts with the command, so preparing the data counts. The planner times the first
steps and plans the run's total steps from them, with validation estimated from the set sizes;
once the first validation (with its saves) has been timed, it plans again from what it measured,
and again whenever the quickest of the latest EVAL_WINDOW validations would move the end by more
than DRIFT_WINDOW_SHARE of the budget (a first validation slowed by a busy moment is not planned
with for the whole run). Besides that it re-plans once, if the steps run more than DRIFT faster
or slower than planned (a machine that got busy, or freed up) in two windows in a row: the second
is all after the change, so its speed is the one to plan with. A plan whose steps ran slower than
it planned and that, even at its own speeds, would end more than half the reserve past its planned
end (a machine busier than any re-plan measured: other work coming and going, or a few per cent
slower, too little for a drift) is cut to the steps' mean speed, as often as that happens: the
deadline is kept. Likewise a plan whose steps ran quicker than it planned and
that would end LATE_SHARE of the budget early even at its own speeds (a plan made in a slow spell: the first
steps' warm-up, a busy moment) is extended, once its steps have run a drift window, at the speed
they ran: the time saved is trained. The engine rebuilds the schedule for each plan at the step it
has reached, stops at the planned step (the last epoch may be partial), validates and saves.
`train.epochs` stays the most it trains. Steps that cost more from a share of the run on (whole images
after smaller crops: `LaterSteps`) are planned at their cost, and timed in the earlier steps' time, so
the first plan's end is where the run ends. A resume keeps the plan and the budget's time left (the
new process's own start is not planned for). The clock is injected, so tests run on a fake one.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

MEASURE_STEPS = 8  # steps timed before the first plan (the run's first step, which warms up, is not timed)
MEASURE_SHARE = 0.01  # and at least this share of the budget
DRIFT = 0.15  # re-plan once when the steps' speed differs from the plan's by more than this share
DRIFT_WINDOW_SHARE = 0.03  # in two windows in a row, each this share of the budget long
DRIFT_WINDOW_STEPS = 4  # and at least this many steps: a machine that slows down five-fold is caught in seconds
EVAL_WINDOW = 3  # a validation's cost: the quickest of this many latest ones (a busy moment does not count)
EVAL_COST = 0.35  # one image validated costs this share of one trained, until a validation has been timed
LATE_SHARE = 0.03  # a plan that would end this share of the budget early is extended (late ones: half the reserve)
RESERVE_SECONDS, RESERVE_SHARE = 1.5, 0.01  # kept back for the process's end: closing files, tearing torch down


@dataclass(frozen=True)
class LaterSteps:
    """The optimizer steps from `share` of a run's steps on, each costing `cost` of the steps before it: whole
    images after smaller random crops (data.augment.whole_images_from) cost their pixels' ratio."""

    share: float
    cost: float

    def work(self, begin: int, end: int, total: int) -> float:
        """Steps `begin` to `end` (counted from 0, `end` left out) of a run of `total` steps, in earlier steps."""
        later = max(0, end - max(begin, math.ceil(self.share * total)))
        return end - begin + (self.cost - 1) * later


@dataclass(frozen=True)
class Plan:
    """The run's total optimizer steps, and the speeds they were planned with."""

    steps: int
    step_seconds: float  # one optimizer step (of the run's earlier steps, when LaterSteps cost more)
    eval_seconds: float  # one validation, with the checkpoints saved after it
    ends_in: float  # seconds from the plan to the run's planned end
    replanned: bool = False  # the speed drifted since the first plan


@dataclass
class Timing:
    """Optimizer steps and the seconds they took (validations left out); later steps count at their cost."""

    steps: float = 0.0
    seconds: float = 0.0

    def per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


class BudgetPlanner:
    """Plans a run's steps to fit `budget` seconds counted from `started` (a `clock` reading).

    The engine calls `epoch_started` before each epoch, `after_step` after optimizer steps (every
    one, or every few) and `evaluation_started` before each validation; the first two may propose
    a plan, which takes effect with `adopt` (under torchrun, rank 0's on every rank).
    """

    def __init__(self, budget: float, *, started: float, steps_per_epoch: int, max_steps: int, eval_steps: float,
                 final_eval_factor: float = 1.0, later_steps: LaterSteps | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`eval_steps`: a validation's estimated cost in optimizer steps (from the set sizes), until one is timed;
        `final_eval_factor`: the last validation's cost in validations (more views of each image: train.final_tta);
        `later_steps`: the run's last steps cost more than its first."""
        self.budget, self.started, self.clock = budget, started, clock
        self.final_eval_factor, self.later_steps = final_eval_factor, later_steps
        self.steps_per_epoch, self.max_steps, self.eval_steps = steps_per_epoch, max_steps, eval_steps
        self.deadline = started + budget
        self.used_before = 0.0  # seconds of the budget spent by the run's earlier processes (a resume)
        self.plan: Plan | None = None
        self.eval_seconds: float | None = None  # one validation with its saves: the quickest of the latest measured
        self._evaluations: list[float] = []  # the latest validations' seconds, measured
        self.speed = Timing()  # the steps timed since the process started, or in the window that found a drift
        self.window = Timing()  # the latest steps since the plan was adopted: what a drift is measured on
        self.since_plan = Timing()  # the steps since the plan was adopted
        self._drifted = False  # the window before this one drifted
        self._mark: tuple[float, int] | None = None  # (time, step) of the last hook
        self._first_step: int | None = None  # the process's first step warms up: never timed
        self._evaluating_since: float | None = None

    # the engine's hooks

    def epoch_started(self, step: int) -> Plan | None:
        """Before an epoch at optimizer step `step`; once a validation has been timed whose cost moves
        the plan's end, the plan with its time."""
        now = self.clock()
        timed = self._evaluating_since is not None
        if self._evaluating_since is not None:
            self._evaluations = [*self._evaluations[1 - EVAL_WINDOW:], now - self._evaluating_since]
            self.eval_seconds, self._evaluating_since = min(self._evaluations), None
        if self._first_step is None:
            self._first_step = step + 1
        self._mark = (now, step)
        if timed and self.plan is not None and not self.done(step) and self._validations_move_the_end(step):
            plan = self._planned(step, self.speed.per_step(), replanned=self.plan.replanned, pending=False)
            return plan if plan.steps != self.plan.steps else None  # a schedule that ended stays ended
        return None

    def after_step(self, step: int) -> Plan | None:
        """After optimizer step `step`: the first plan (at once if the deadline has passed), the one re-plan,
        or a late plan cut."""
        now = self.clock()
        if self._mark is not None and step > self._mark[1] and self._mark[1] + 1 != self._first_step:
            work = self._work(self._mark[1], step, self.plan.steps if self.plan else self.max_steps)
            for timing in (self.speed, self.window, self.since_plan):
                timing.steps += work
                timing.seconds += now - self._mark[0]
        self._mark = (now, step)
        pending = step % self.steps_per_epoch == 0  # the epoch just ended: its validation is still to come
        if self.plan is None:
            measured = self._measured(self.speed, MEASURE_SHARE, MEASURE_STEPS) or now >= self.deadline
            return self._planned(step, self.speed.per_step(), False, pending) if measured else None
        if self._drifted_twice(step):
            return self._planned(step, self.speed.per_step(), True, pending)
        if self._running_late(step, pending, now):
            return self._planned(step, self.speed.per_step(), self.plan.replanned, pending)
        if self._running_early(step, pending, now):  # at the speed the plan's steps ran: one extension, not many
            return self._planned(step, self.since_plan.per_step(), self.plan.replanned, pending)
        return None

    def evaluation_started(self) -> None:
        self._evaluating_since = self.clock()

    def adopt(self, plan: Plan) -> None:
        """Train to `plan` from now on. A drift is measured afresh from the first plan and the re-plan; a plan
        moved by the validations' cost or cut for being late keeps the windows measured so far."""
        if self.plan is None or plan.replanned != self.plan.replanned:
            self.window, self._drifted = Timing(), False
        self.plan, self.since_plan = plan, Timing()

    def done(self, step: int) -> bool:
        """Whether the planned steps have been taken: the run validates, saves and ends."""
        return self.plan is not None and step >= self.plan.steps

    def epochs(self, plan: Plan) -> float:
        return plan.steps / self.steps_per_epoch

    # resuming

    def state_dict(self) -> dict[str, Any]:
        """What last.pt keeps: the plan, the budget spent so far and the validation's time."""
        return {"budget": self.budget, "used": self.used_before + self.clock() - self.started,
                "plan": asdict(self.plan) if self.plan else None, "eval_seconds": self.eval_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a resumed run's plan, with what is left of its budget counted from this process's start."""
        self.used_before = float(state["used"])
        self.deadline = self.started + self.budget - self.used_before
        self.plan = Plan(**state["plan"]) if state["plan"] else None
        self.eval_seconds = state["eval_seconds"]

    # planning

    def _measured(self, timing: Timing, share: float, steps: int) -> bool:
        return timing.steps >= steps and timing.seconds >= share * self.budget

    def _validations_move_the_end(self, step: int) -> bool:
        """Whether the validations left, at the cost now measured, end the run more than DRIFT_WINDOW_SHARE of
        the budget away from the plan's end."""
        assert self.plan is not None and self.eval_seconds is not None
        left = -(-self.plan.steps // self.steps_per_epoch) - step // self.steps_per_epoch
        return left * abs(self.eval_seconds - self.plan.eval_seconds) > DRIFT_WINDOW_SHARE * self.budget

    def _drifted_twice(self, step: int) -> bool:
        """Whether the window just measured and the one before both ran more than DRIFT off the plan's speed (then
        `speed` is the latest window's); asked until the one re-plan, while planned steps are left."""
        plan = self.plan
        if plan is None or plan.replanned or self.done(step):
            return False
        if not self._measured(self.window, DRIFT_WINDOW_SHARE, DRIFT_WINDOW_STEPS):
            return False
        window, self.window = self.window, Timing()
        before, self._drifted = self._drifted, abs(window.per_step() / plan.step_seconds - 1) > DRIFT
        if before and self._drifted:
            self.speed = window  # the machine as it is now
        return before and self._drifted

    def _running_late(self, step: int, pending: bool, now: float) -> bool:
        """Whether the steps under the plan ran slower than it planned and what is left, even at the plan's own
        speeds, ends more than half the reserve past the planned end: the lateness so far, not a projection
        (a window that starts with an epoch's costly first step would be taken for a slower machine). A few
        per cent slower, too little for a drift, is cut a little at a time. A resumed process late by its own
        start alone keeps its plan."""
        plan = self.plan
        if plan is None or self.done(step) or self.since_plan.steps < DRIFT_WINDOW_STEPS:
            return False
        if self.since_plan.per_step() <= plan.step_seconds:
            return False
        return -self._slack(plan, step, pending, now) > self._reserve() / 2

    def _running_early(self, step: int, pending: bool, now: float) -> bool:
        """Whether the steps under the plan ran quicker than it planned and what is left, even at the plan's own
        speeds, ends LATE_SHARE of the budget or more before the deadline: the time saved is trained instead."""
        plan, ran = self.plan, self.since_plan
        if plan is None or self.done(step) or not self._measured(ran, DRIFT_WINDOW_SHARE, DRIFT_WINDOW_STEPS):
            return False
        if ran.per_step() >= plan.step_seconds or plan.steps >= self.max_steps:
            return False
        return self._slack(plan, step, pending, now) > LATE_SHARE * self.budget

    def _slack(self, plan: Plan, step: int, pending: bool, now: float) -> float:
        """Seconds the rest of `plan`, at its own speeds, ends before the planned end (negative: after it)."""
        return self._left(now) - self._needs(step, plan.steps, plan.step_seconds, plan.eval_seconds, pending)

    def _planned(self, step: int, step_seconds: float, replanned: bool, pending: bool) -> Plan:
        """The most steps (from `step` to max_steps) whose training and validations end by the deadline;
        `pending`: the validation of the epoch that ended at `step` is still to come."""
        eval_seconds = self.eval_seconds if self.eval_seconds is not None else self.eval_steps * step_seconds
        left = self._left(self.clock())

        def needs(total: int) -> float:
            return self._needs(step, total, step_seconds, eval_seconds, pending)

        low, high = step, self.max_steps  # needs() grows with the total: the largest that fits, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if needs(middle) <= left else (low, middle - 1)
        return Plan(low, step_seconds, eval_seconds, needs(low), replanned)

    def _needs(self, step: int, total: int, step_seconds: float, eval_seconds: float, pending: bool) -> float:
        """Seconds from `step` to the end of a run of `total` steps, its validations included."""
        per_epoch = self.steps_per_epoch
        evaluations = -(-total // per_epoch) - step // per_epoch + pending  # each epoch's end, the last step's
        final_extra = self.final_eval_factor - 1 if evaluations > 0 else 0.0  # the last one's more views
        return self._work(step, total, total) * step_seconds + (evaluations + final_extra) * eval_seconds

    def _work(self, begin: int, end: int, total: int) -> float:
        """Steps `begin` to `end` of a run of `total`, in the run's earlier steps."""
        return self.later_steps.work(begin, end, total) if self.later_steps else float(end - begin)

    def _left(self, now: float) -> float:
        """Seconds from `now` to the planned end: the deadline less what the process's end is kept."""
        return self.deadline - now - self._reserve()

    def _reserve(self) -> float:
        return RESERVE_SECONDS + RESERVE_SHARE * self.budget


def process_started(clock: Callable[[], float] = time.monotonic) -> float:
    """When this process started, on `clock`: a budget counts the interpreter's start and the imports too."""
    import psutil

    return clock() - (time.time() - psutil.Process().create_time())
