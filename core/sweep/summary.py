"""A study's summary in its folder: trials.json (and trials.csv for spreadsheets), what the app and headless read.

Workers rewrite it after every trial, from the study's storage, atomically: a reader sees one
whole summary. Reading it needs neither Optuna nor the storage (a PostgreSQL study's password
stays with the command that was given it).
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from core.files import atomic_write, atomic_write_json
from core.runs.rundir import RunState
from core.sweep.space import SweepSpec, Value, set_argument
from core.sweep.study import REASON, RUN_DIR, StudyFolder

CSV_COLUMNS = ["number", "state", "value", "duration", "run_dir", "reason"]  # then one column per parameter
# A trial is a run, so its state reads as one: Optuna's COMPLETE is a finished run, FAIL a failed one.
TRIAL_STATES = {"COMPLETE": RunState.FINISHED, "PRUNED": RunState.PRUNED, "FAIL": RunState.FAILED,
                "RUNNING": RunState.RUNNING, "WAITING": RunState.STARTING}


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: RunState  # finished, pruned, failed, running or starting
    value: float | None
    params: dict[str, Value]
    duration: float | None  # seconds; None while running
    run_dir: str = ""
    reason: str = ""  # why it failed or was pruned
    ended: float | None = None  # time.time() it ended, for the best-so-far curve

    @property
    def finished(self) -> bool:
        return self.state in (RunState.FINISHED, RunState.PRUNED)


@dataclass(frozen=True)
class StudySummary:
    study: str
    direction: str  # maximize or minimize
    metric: str
    trials: list[TrialRow] = field(default_factory=list)

    @property
    def best(self) -> TrialRow | None:
        """The best complete trial (a pruned trial's value is from an early epoch, never the best)."""
        complete = [row for row in self.trials if row.state == RunState.FINISHED and _number(row.value)]
        pick = max if self.direction == "maximize" else min
        return pick(complete, key=lambda row: row.value or 0.0) if complete else None

    @property
    def finished(self) -> int:
        return sum(row.finished for row in self.trials)

    def best_so_far(self) -> list[tuple[int, float]]:
        """(trial number, best value up to it) over the complete trials in number order: the curve the app draws."""
        points: list[tuple[int, float]] = []
        pick = max if self.direction == "maximize" else min
        for row in sorted(self.trials, key=lambda row: row.number):
            if row.state == RunState.FINISHED and row.value is not None and _number(row.value):
                points.append((row.number, row.value if not points else pick(points[-1][1], row.value)))
        return points

    def set_line(self, row: TrialRow) -> str:
        """The --set arguments that reproduce a trial as an ordinary run."""
        return " ".join(f"--set {set_argument(key, value)}" for key, value in row.params.items())


def summarize(study: Any, metric: str) -> StudySummary:
    """The study's trials, as the storage has them now."""
    rows = [_row(trial) for trial in study.get_trials(deepcopy=False)]
    return StudySummary(study.study_name, study.direction.name.lower(), metric, rows)


def write_summary(folder: StudyFolder, summary: StudySummary) -> None:
    atomic_write_json(folder.trials_path, asdict(summary))
    params = sorted({key for row in summary.trials for key in row.params})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS + params)
    for row in summary.trials:
        writer.writerow([row.number, row.state, "" if row.value is None else row.value,
                         "" if row.duration is None else round(row.duration, 1), row.run_dir, row.reason,
                         *(row.params.get(key, "") for key in params)])
    data = text.getvalue().encode()

    def write(handle: BinaryIO) -> None:
        handle.write(data)

    atomic_write(folder.trials_csv_path, write)


def read_summary(folder: StudyFolder) -> StudySummary:
    """trials.json as written (an empty summary from study.json before the first trial ends)."""
    study = folder.read_study()
    sweep = study.get("sweep") or {}
    empty = StudySummary(folder.name, str(sweep.get("direction") or "maximize"), str(sweep.get("metric") or ""))
    try:
        data = json.loads(folder.trials_path.read_text())
        rows = [TrialRow(**{**row, "state": RunState(row["state"])}) for row in data.get("trials", [])]
        return StudySummary(str(data["study"]), str(data["direction"]), str(data["metric"]), rows)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return empty


def importances(summary: StudySummary, spec: SweepSpec) -> dict[str, float]:
    """Each parameter's importance to the value (Optuna's default evaluator, fANOVA), from the complete trials;
    {} until there are at least two."""
    import optuna

    complete = [row for row in summary.trials if row.state == RunState.FINISHED and _number(row.value)
                and set(row.params) == set(spec.space)]
    if len(complete) < 2:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if summary.direction == "maximize" else "minimize")
    distributions = {key: dimension.distribution() for key, dimension in spec.space.items()}
    study.add_trials([optuna.trial.create_trial(params=row.params, distributions=distributions, value=row.value)
                      for row in complete])
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):  # every trial alike: nothing to tell apart
        return {}


def _row(trial: Any) -> TrialRow:
    state = TRIAL_STATES[trial.state.name]
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    value = trial.value
    if state == RunState.PRUNED and trial.last_step is not None:  # the last epoch's metric it reported
        value = trial.intermediate_values[trial.last_step]
    return TrialRow(number=trial.number, state=state,
                    value=value if _number(value) else None, params=dict(trial.params), duration=duration,
                    run_dir=str(trial.user_attrs.get(RUN_DIR, "")), reason=str(trial.user_attrs.get(REASON, "")),
                    ended=trial.datetime_complete.timestamp() if trial.datetime_complete else None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
