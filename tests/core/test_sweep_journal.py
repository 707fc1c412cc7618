"""The study journal on one machine: a killed worker's lock and its half-written record never stop the study."""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna

from core.sweep.journal import JournalLock, cut_torn_record
from core.sweep.study import StudyFolder, make_storage

ROOT = Path(__file__).resolve().parents[2]


def locked(journal: Path) -> bool:
    """Whether another holder has the journal's lock (asked without waiting)."""
    with journal.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing the handle drops the lock just taken


def test_the_lock_excludes_others_until_released(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    journal.write_bytes(b"")
    lock = JournalLock(journal)
    lock.acquire()
    assert locked(journal)
    lock.release()
    assert not locked(journal)


def test_a_lock_held_by_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    journal.write_bytes(b"")
    holds = ("import sys, time\nfrom pathlib import Path\nfrom core.sweep.journal import JournalLock\n"
             "lock = JournalLock(Path(sys.argv[1]))\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", holds, str(journal)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert locked(journal)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert not locked(journal)


def test_a_torn_last_record_is_cut_and_whole_ones_kept(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    journal.write_bytes(b'{"a":1}\n{"b":2}\n{"op_co')
    with journal.open("r+b") as handle:
        assert cut_torn_record(handle) == len(b'{"op_co')
        assert cut_torn_record(handle) == 0
    assert journal.read_bytes() == b'{"a":1}\n{"b":2}\n'
    journal.write_bytes(b'{"half')
    with journal.open("r+b") as handle:
        assert cut_torn_record(handle) == 6
    assert journal.read_bytes() == b""


def test_a_study_whose_writer_died_mid_record_reads_and_takes_trials(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path / "s")
    folder.path.mkdir()
    study = optuna.create_study(study_name="s", storage=make_storage(folder, None))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    with folder.journal_path.open("ab") as journal:
        journal.write(b'{"op_code":6,"worker_id":"dead","trial_id":1,"st')  # kill -9 in the middle of a write
    again = optuna.load_study(study_name="s", storage=make_storage(folder, None))
    again.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    reread = optuna.load_study(study_name="s", storage=make_storage(folder, None))
    assert [trial.state.name for trial in reread.trials] == ["COMPLETE"] * 3
