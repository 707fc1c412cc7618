"""A study: the Optuna study behind a sweep, its storage, and its folder under the runs folder.

    runs/.sweeps/<study>/
      study.json     the sweep: block, the config it came from, the storage (a password never written)
      journal.log    Optuna's journal storage, when no --storage is given
      trials.json    the summary every front end reads (core/sweep/summary.py); trials.csv beside it
      config.yaml    the swept config, when the app started the sweep
      sweeping.json  the command that is sweeping now: its process, so the app can stop it
      sweep.log      that command's output when the app started it

The folder is hidden (a dot name), so the runs folder's readers never take it for a run. The
journal file takes several processes on one machine (SQLite does not); several machines share
a PostgreSQL or MySQL study. Optuna's storage is the only coordination: each worker asks it for
the next trial. A worker killed mid-trial leaves that trial RUNNING; `reap_dead_trials` marks it
failed, judging the worker by pid, start time and boot (core/runs/liveness.py) on this host, and
Optuna's heartbeat does it for RDB storages across machines. The journal's lock dies with its
worker, and a record it left half-written is cut off (core/sweep/journal.py).
"""
from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import WorkbenchError
from core.files import atomic_write_json
from core.runs.liveness import same_process
from core.runs.rundir import RunDir, RunState
from core.sweep.space import SweepSpec

SWEEPS = ".sweeps"  # under the runs folder
STUDY_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
RDB_SCHEMES = ("postgresql", "mysql")  # storages several machines can share
HEARTBEAT_SECONDS = 30  # an RDB trial's worker proves it lives this often; silent for GRACE_SECONDS: failed
GRACE_SECONDS = 120
SCHEMA_ATTEMPTS = 4
UNCLAIMED_SECONDS = 60  # a running trial no worker has named itself on for this long was left by a dead one
REASON = "reason"  # the trial user attribute that says why it failed or was pruned
VALUES_AT_FAULT = "values_at_fault"  # set on a trial that failed by its own values: it diverged or did not fit
WORKER, RUN_DIR = "worker", "run_dir"  # trial user attributes: the worker's process identity, the trial's run

# Samplers and pruners by the names the sweep: block takes; adding one is one entry here and one in its Literal.
SAMPLERS: dict[str, Callable[[SweepSpec], Any]] = {
    "tpe": lambda spec: _optuna().samplers.TPESampler(seed=spec.seed),
    "random": lambda spec: _optuna().samplers.RandomSampler(seed=spec.seed),
    "grid": lambda spec: _optuna().samplers.GridSampler(spec.grid(), seed=spec.seed),
    "cmaes": lambda spec: _optuna().samplers.CmaEsSampler(seed=spec.seed, warn_independent_sampling=False),
}
PRUNERS: dict[str, Callable[[int], Any]] = {  # by the trial's epochs, the pruners' resource
    "median": lambda epochs: _optuna().pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "successive_halving": lambda epochs: _optuna().pruners.SuccessiveHalvingPruner(),
    "hyperband": lambda epochs: _optuna().pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
    "none": lambda epochs: _optuna().pruners.NopPruner(),
}


class SweepError(WorkbenchError):
    """A study that cannot be opened (a bad name or storage URL, a server that cannot be reached)."""


@dataclass(frozen=True)
class StudyFolder:
    """Paths of one study's folder."""

    path: Path

    @classmethod
    def under(cls, runs_dir: Path, name: str) -> StudyFolder:
        if not re.match(STUDY_NAME, name):
            raise SweepError(f"study name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
        return cls(Path(runs_dir) / SWEEPS / name)

    name = property(lambda self: self.path.name)
    study_path = property(lambda self: self.path / "study.json")
    journal_path = property(lambda self: self.path / "journal.log")
    trials_path = property(lambda self: self.path / "trials.json")
    trials_csv_path = property(lambda self: self.path / "trials.csv")
    config_path = property(lambda self: self.path / RunDir.CONFIG)  # named like a run's, read the same way
    process_path = property(lambda self: self.path / "sweeping.json")
    log_path = property(lambda self: self.path / "sweep.log")

    def read_study(self) -> dict[str, Any]:
        """study.json, or {} when it is missing or unreadable."""
        return _read_json(self.study_path)

    def read_process(self) -> dict[str, Any]:
        """sweeping.json: the identity of the command sweeping now, or {}."""
        return _read_json(self.process_path)


def list_studies(runs_dir: Path) -> list[StudyFolder]:
    """The studies under a runs folder, most recently changed first."""
    root = Path(runs_dir) / SWEEPS
    try:
        folders = [StudyFolder(path) for path in root.iterdir() if path.is_dir() and not path.is_symlink()]
    except OSError:
        return []
    folders = [folder for folder in folders if folder.study_path.is_file()]
    return sorted(folders, key=lambda folder: _mtime(folder.trials_path, folder.study_path), reverse=True)


def open_study(folder: StudyFolder, spec: SweepSpec, epochs: int, storage_url: str | None = None,
               config_path: str = "", heartbeat: bool = True) -> Any:
    """Create the study, or load it when it exists (a rerun continues it); write study.json.

    `heartbeat`: RDB storages get Optuna's heartbeat, so a dead machine's trial is failed by the others.
    """
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are told by the front end, with the reason
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"cannot make the study folder {folder.path}: {exc.strerror}") from exc
    storage = make_storage(folder, storage_url, heartbeat)
    try:
        study = optuna.create_study(study_name=folder.name, storage=storage, sampler=SAMPLERS[spec.sampler](spec),
                                    pruner=PRUNERS[spec.pruner](epochs), direction=spec.direction,
                                    load_if_exists=True)
    except Exception as exc:  # a server that refuses, a schema it cannot make: say so in a line
        raise SweepError(f"cannot open study {folder.name!r} on {describe_storage(storage_url)}: "
                         f"{type(exc).__name__}: {exc}") from exc
    if study.direction.name.lower() != spec.direction:
        raise SweepError(f"study {folder.name!r} already exists and {study.direction.name.lower()}s; "
                         f"this sweep: block {spec.direction}s (use another --study name)")
    atomic_write_json(folder.study_path, {"study": folder.name, "config": config_path,
                                          "storage": describe_storage(storage_url), "epochs": epochs,
                                          "sweep": spec.model_dump(mode="json")})
    return study


def make_storage(folder: StudyFolder, url: str | None, heartbeat: bool = True) -> Any:
    """The journal file in the study folder (no URL), or an RDB storage for postgresql:// and mysql:// URLs."""
    optuna = _optuna()
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        from core.sweep.journal import JournalLock

        return JournalStorage(JournalFileBackend(str(folder.journal_path), lock_obj=JournalLock(folder.journal_path)))
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        raise SweepError("SQLite is not safe for several processes; leave --storage out for the study's journal "
                         "file (one machine), or give a postgresql:// or mysql:// URL (several)")
    if scheme not in RDB_SCHEMES:
        raise SweepError(f"--storage {describe_storage(url)}: give a postgresql:// or mysql:// URL")
    if scheme == "postgresql" and "+" not in url.split(":", 1)[0]:
        # the `postgres` extra's driver: SQLAlchemy 2.1 would pick psycopg 3
        url = "postgresql+psycopg2" + url[len("postgresql"):]
    beat = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": GRACE_SECONDS,
            "heartbeat_stale_trial_callback": _record_heartbeat_failure} if heartbeat else {}
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat is, since 2.9
                return optuna.storages.RDBStorage(url, **beat)
        except Exception as exc:
            # machines started together race to create Optuna's tables: the loser finds them made on its next try
            if attempt == SCHEMA_ATTEMPTS or "already exists" not in str(exc):
                raise SweepError(f"cannot reach {describe_storage(url)}: {type(exc).__name__}: {exc}") from exc
            time.sleep(attempt)


def describe_storage(url: str | None) -> str:
    """The storage as it may be shown and written down: a URL's password is masked."""
    if url is None:
        return "journal file"
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def claimed_count(study: Any) -> int:
    """Trials done or under way: what a worker compares with --trials before it asks for another (a failed
    trial is not counted: another takes its place)."""
    states = _optuna().trial.TrialState
    return len(study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.RUNNING,
                                                          states.WAITING)))


def reap_dead_trials(study: Any) -> list[int]:
    """Fail the RUNNING trials whose worker process on this host is gone (killed, crashed, power lost), in the
    study and in their run's status.json; return their numbers. Trials of other hosts are left to the heartbeat."""
    states = _optuna().trial.TrialState
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        if not isinstance(worker, dict):  # killed between asking for the trial and naming itself on it
            started = trial.datetime_start
            if started is None or (datetime.now() - started).total_seconds() < UNCLAIMED_SECONDS:
                continue
            reason = "its worker ended before it started training"
        elif same_process(worker) or not _this_host(worker):
            continue
        else:
            reason = f"its worker (pid {worker.get('pid')}) ended without finishing it"
        fail_trial(study, trial, reason)
        reaped.append(trial.number)
    return reaped


def fail_trial(study: Any, trial: Any, reason: str) -> None:
    """Mark a trial another process left RUNNING failed, with the reason, in the study and in its run."""
    storage = study._storage  # as Optuna's own fail_stale_trials does: Study has no public storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
    try:
        storage.set_trial_user_attr(trial_id, REASON, reason)
        if not storage.set_trial_state_values(trial_id, _optuna().trial.TrialState.FAIL):
            return
    except RuntimeError:  # another worker finished or failed it first
        return
    run_dir = trial.user_attrs.get(RUN_DIR)
    if run_dir:
        mark_run(RunDir(Path(run_dir)), RunState.FAILED, error=f"sweep trial failed: {reason}")


def mark_run(run: RunDir, state: RunState, **changes: Any) -> None:
    """Set a finished run's state (pruned, or failed for a killed worker) in its status.json."""
    status = _read_json(run.status_path)
    if status:
        atomic_write_json(run.status_path, {**status, "state": str(state), **changes})


def _record_heartbeat_failure(study: Any, trial: Any) -> None:
    """Optuna failed a trial whose heartbeat stopped (its machine or worker died): say so in its run."""
    run_dir = trial.user_attrs.get(RUN_DIR)
    if run_dir:
        mark_run(RunDir(Path(run_dir)), RunState.FAILED,
                 error="sweep trial failed: its worker stopped sending heartbeats (killed, or its machine is gone)")


def _this_host(worker: dict[str, Any]) -> bool:
    import socket

    return worker.get("host") in (None, socket.gethostname())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mtime(*paths: Path) -> float:
    for path in paths:
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


def _optuna() -> Any:
    """Optuna, imported when a study is opened: `workbench --help` and the app's start stay light."""
    import optuna

    return optuna
