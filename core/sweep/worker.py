"""A sweep worker: one process running trials one after another until the study has enough or time is up.

Workers never talk to each other: each asks the study's storage for its next trial, so two on one
machine (the journal file) or ten on five machines (PostgreSQL) share the work the same way. A
worker first fails the trials of workers that died on this host, so a rerun after a kill -9
continues where the study stood.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import WorkbenchError
from core.sweep.study import REASON, VALUES_AT_FAULT, claimed_count, reap_dead_trials
from core.sweep.trial import TrialRunner

FAILURES_IN_A_ROW = 3  # a worker whose trials keep crashing stops rather than burn the machine
VALUE_FAILURES_IN_A_ROW = 10  # trials that diverge or do not fit: a space that keeps sampling those needs changing


@dataclass(frozen=True)
class Budget:
    """When a sweep is done: `trials` finished (complete or pruned) trials, or past `deadline` (time.time())."""

    trials: int | None
    deadline: float | None

    def spent(self, study: Any) -> bool:
        if self.deadline is not None and time.time() >= self.deadline:
            return True
        return self.trials is not None and claimed_count(study) >= self.trials


def work(study: Any, runner: TrialRunner, budget: Budget, after_trial: Callable[[], None] = lambda: None) -> None:
    """Run trials until the budget is spent or the user stops (TrialStopped propagates). A trial that fails
    (diverges, runs out of memory, crashes) is failed in the study and the next one runs; FAILURES_IN_A_ROW
    in a row that their values did not cause (the data is missing, say) end the worker with the last one's
    reason. Diverging or running out of memory is a verdict on a trial's values, so it takes
    VALUE_FAILURES_IN_A_ROW of those: a sampler exploring a bad region (a high lr) is left to move on."""
    from optuna.trial import TrialState

    streak: list[Any] = []  # the failed trials since the last one that did not fail
    while True:
        reap_dead_trials(study)
        if budget.spent(study) or runner.should_stop():
            return
        ended: list[Any] = []
        try:
            study.optimize(runner, n_trials=1, catch=(WorkbenchError, RuntimeError, ValueError),
                           callbacks=[lambda _, trial, ended=ended: ended.append(trial)])
        finally:
            after_trial()
        failed = [trial for trial in ended if trial.state == TrialState.FAIL]
        streak = streak + failed if failed else []
        by_values = sum(bool(trial.user_attrs.get(VALUES_AT_FAULT)) for trial in streak)
        if len(streak) - by_values >= FAILURES_IN_A_ROW or by_values >= VALUE_FAILURES_IN_A_ROW:
            last = streak[-1].user_attrs.get(REASON) or "see its run directory's train.log"
            raise WorkbenchError(f"{len(streak)} trials in a row failed; the last: {last}")
