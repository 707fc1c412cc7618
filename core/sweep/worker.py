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
from core.sweep.study import REASON, claimed_count, reap_dead_trials
from core.sweep.trial import TrialRunner

FAILURES_IN_A_ROW = 3  # a worker whose trials keep crashing stops rather than burn the machine


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
    in a row (the data is missing, say) end the worker with the last one's reason."""
    from optuna.trial import TrialState

    failures = 0
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
        failures = failures + 1 if failed else 0
        if failures >= FAILURES_IN_A_ROW:
            last = failed[0].user_attrs.get(REASON) or "see its run directory's train.log"
            raise WorkbenchError(f"{failures} trials in a row failed; the last: {last}")
