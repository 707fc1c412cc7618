"""Honest run states: a killed run reads "ended unexpectedly" everywhere, a reused pid is never taken for it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import WorkbenchError
from core.runs import liveness
from core.runs.history import read_summary
from core.runs.launch import LaunchedRun, LaunchError, signal_run
from core.runs.liveness import boot_id, process_start
from core.runs.recorder import RunRecorder, create_run
from core.runs.rundir import RunState
from core.train.events import CheckpointSaved, EpochEnded, RunFailed, RunFinished

ROOT = Path(__file__).resolve().parents[2]


def write_status(run_dir: Path, **status) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "events.jsonl").touch()
    status = {"state": "running", "started": "2026-01-01T10:00:00+00:00", "epochs": 3, "epochs_done": 0, **status}
    (run_dir / "status.json").write_text(json.dumps(status))
    return status


def hold(run_dir: Path):
    """Hold the run's lock here, as its training process would."""
    handle = (run_dir / "events.jsonl").open("a")
    liveness.hold_lock(handle)
    return handle


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_process_is_known_by_its_pid_start_time_and_boot():
    me = liveness.process_identity()
    assert me["pid"] == os.getpid() and isinstance(me["pid_start"], int) and me["boot_id"]
    assert liveness.same_process(me)
    assert not liveness.same_process({**me, "pid_start": me["pid_start"] - 1})  # the pid, reused
    assert not liveness.same_process({**me, "boot_id": "another-boot"})
    assert liveness.same_process({"pid": os.getpid()})  # a status from before start times: the pid decides
    assert not liveness.same_process({"pid": 999_999_999}) and not liveness.same_process({"pid": "7"})


def test_a_reused_pid_is_never_taken_for_the_run_nor_signalled(tmp_path, sleeper):
    run_dir = tmp_path / "run-1"
    real = write_status(run_dir, pid=sleeper.pid, pid_start=process_start(sleeper.pid), boot_id=boot_id())
    lock = hold(run_dir)  # even with the lock held, the start time decides
    try:
        assert read_summary(run_dir).state == "running"
        reused = write_status(run_dir, pid=sleeper.pid, pid_start=process_start(sleeper.pid) - 5, boot_id=boot_id())

        assert read_summary(run_dir).state == RunState.ENDED_UNEXPECTEDLY
        with pytest.raises(LaunchError, match="not running .state: ended unexpectedly"):
            LaunchedRun.attach(run_dir)
        follower = LaunchedRun(sleeper.pid, run_dir=run_dir, status=reused)
        assert not follower.is_running and follower.state == RunState.ENDED_UNEXPECTEDLY
        follower.stop()
        assert signal_run(reused, signal.SIGTERM) is False
        time.sleep(0.2)
        assert sleeper.poll() is None  # never signalled

        assert signal_run(real, signal.SIGTERM) is True  # the same process, still its own: signalled
        assert sleeper.wait(10) == -signal.SIGTERM
    finally:
        lock.close()


def test_a_run_whose_lock_is_free_has_ended(tmp_path):
    run_dir = tmp_path / "run-1"
    write_status(run_dir, **liveness.process_identity())  # this live process, but it holds no lock
    assert read_summary(run_dir).state == RunState.ENDED_UNEXPECTEDLY
    lock = hold(run_dir)
    assert read_summary(run_dir).state == "running"
    lock.close()
    assert read_summary(run_dir).state == RunState.ENDED_UNEXPECTEDLY


def test_one_run_directory_has_one_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "LOCK_WAIT_SECONDS", 0.1)
    run = create_run(tmp_path, "one")
    first = RunRecorder(run, 2)
    with pytest.raises(WorkbenchError, match="being written by another training process"):
        RunRecorder(run, 2)
    first.close()
    RunRecorder(run, 2).close()


KILLED_WHILE_SAVING = """
import sys, time
from pathlib import Path
from core.files import atomic_write
from core.runs.rundir import RunDir
from core.runs.recorder import RunRecorder
run = RunDir(Path(sys.argv[1]))
recorder = RunRecorder(run, 3)
def slow(handle):
    handle.write(b"new, half written")
    handle.flush()
    print("saving", flush=True)
    time.sleep(60)
atomic_write(run.checkpoints_dir / "last.pt", slow)
"""


def test_sigkill_while_saving_keeps_last_pt_and_reads_ended_unexpectedly(tmp_path):
    run = create_run(tmp_path / "runs", "killed")
    (run.checkpoints_dir / "last.pt").write_bytes(b"epoch 1")
    process = subprocess.Popen([sys.executable, "-c", KILLED_WHILE_SAVING, str(run.path)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout.readline() == "saving\n"
        assert read_summary(run.path).state == "running"
        attached = LaunchedRun.attach(run.path)
        assert attached.is_running
    finally:
        process.kill()
        process.wait()

    assert (run.checkpoints_dir / "last.pt").read_bytes() == b"epoch 1"
    assert run.read_status()["state"] == "running"  # what the killed process left ...
    assert read_summary(run.path).state == RunState.ENDED_UNEXPECTEDLY  # ... and what every reader shows
    assert (attached.is_running, attached.state) == (False, RunState.ENDED_UNEXPECTEDLY)
    with pytest.raises(LaunchError, match="ended unexpectedly"):
        LaunchedRun.attach(run.path)


def epoch(number: int, accuracy: float) -> EpochEnded:
    return EpochEnded(epoch=number, epochs=4, train_loss=1.0, val_loss=1.0, val_accuracy=accuracy, lr=0.1,
                      seconds=1.0, samples_per_second=10.0)


def test_best_epoch_and_accuracy_always_go_together(tmp_path):
    run = create_run(tmp_path, "best")
    recorder = RunRecorder(run, 4)
    best = lambda: (run.read_status()["best_epoch"], run.read_status()["best_val_accuracy"])  # noqa: E731
    recorder.record(epoch(1, 0.5))
    recorder.record(CheckpointSaved(path="best.pt", kind="best", epoch=1))
    assert best() == (1, 0.5)
    recorder.record(epoch(2, 0.25))
    recorder.record(CheckpointSaved(path="last.pt", kind="last", epoch=2))
    assert best() == (1, 0.5)
    recorder.record(epoch(3, 0.75))
    recorder.record(CheckpointSaved(path="best.pt", kind="best", epoch=3))
    assert best() == (3, 0.75)  # a run killed here still reads consistently
    recorder.record(RunFinished(status="stopped", epochs_done=3, best_epoch=3, best_val_accuracy=0.75, seconds=3.0,
                                run_dir=str(run.path)))
    assert best() == (3, 0.75)
    recorder.close()


def test_an_aborted_run_is_recorded_as_aborted_not_failed(tmp_path):
    run = create_run(tmp_path, "abort")
    recorder = RunRecorder(run, 4)
    recorder.record(RunFailed(error="aborted by a second stop signal", kind="aborted", run_dir=str(run.path)))
    recorder.close()
    assert run.read_status()["state"] == "aborted"
    assert read_summary(run.path).state == "aborted"


@pytest.mark.timeout(120)
async def test_a_launched_run_killed_mid_training_ended_unexpectedly(tmp_path):
    from core.train.events import BatchEnded
    from tests.core.test_launch import collect, tiny_config, wait_for

    run = LaunchedRun.start(tiny_config(tmp_path, epochs=10_000), tmp_path / "runs")
    try:
        await wait_for(run, BatchEnded)
    finally:
        os.kill(run.pid, signal.SIGKILL)
    await collect(run)
    assert (run.state, run.is_running) == (RunState.ENDED_UNEXPECTEDLY, False)
    assert run.error_text == "the training process ended without finishing (killed by signal 9)"
    assert read_summary(run.run_dir).state == RunState.ENDED_UNEXPECTEDLY


def test_a_run_on_another_host_is_judged_by_its_lock_and_never_signalled(tmp_path, sleeper):
    run_dir = tmp_path / "run-1"
    here = liveness.process_identity(sleeper.pid)
    status = write_status(run_dir, **{**here, "host": "another-host"})  # a live pid here, but not the run's process
    assert not liveness.same_process(status) and signal_run(status, signal.SIGTERM) is False
    time.sleep(0.2)
    assert sleeper.poll() is None
    assert read_summary(run_dir).state == RunState.ENDED_UNEXPECTEDLY  # its lock is free
    lock = hold(run_dir)
    assert read_summary(run_dir).state == "running"
    lock.close()


def test_a_status_from_an_older_workbench_is_judged_by_its_pid(tmp_path):
    write_status(tmp_path / "old-alive", pid=os.getpid())  # no start time: its writer held no lock
    write_status(tmp_path / "old-gone", pid=999_999_999)
    assert read_summary(tmp_path / "old-alive").state == "running"
    assert read_summary(tmp_path / "old-gone").state == RunState.ENDED_UNEXPECTEDLY
