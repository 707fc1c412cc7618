"""core.runs.launch: real training runs in a detached child process, followed through events.jsonl."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from core.config import RunConfig, parse_config
from core.train.events import BatchEnded, EpochEnded, RunFinished, RunResumed, RunStarted
from core.runs.launch import LaunchError, LaunchedRun, prune_launches
from core.runs.liveness import process_identity

pytestmark = pytest.mark.timeout(120)


def tiny_config(tmp_path: Path, epochs: int = 2, train_per_class: int = 12) -> RunConfig:
    return parse_config(f"""
name: tiny
data:
  source: shapes
  path: {tmp_path / "shapes"}
  image_size: [16, 16]
  batch_size: 8
  shapes: {{train_per_class: {train_per_class}, val_per_class: 4, size: 16}}
model:
  layers: [flatten, {{linear: {{out_features: auto}}}}]
train: {{epochs: {epochs}, device: cpu}}
""")


async def collect(run: LaunchedRun, deadline: float = 90) -> list:
    async def all_events() -> list:
        return [event async for event in run.follow(interval=0.05)]

    return await asyncio.wait_for(all_events(), deadline)


async def wait_for(run: LaunchedRun, kind: type, deadline: float = 60) -> list:
    """Poll until an event of `kind` arrives; return everything read so far."""
    seen: list = []
    end = time.monotonic() + deadline
    while not any(isinstance(event, kind) for event in seen):
        assert time.monotonic() < end, f"no {kind.__name__} in time; state {run.state}: {run.error_text}"
        seen += run.poll_events()
        await asyncio.sleep(0.05)
    return seen


async def test_a_launched_run_is_followed_to_the_end(tmp_path):
    run = LaunchedRun.start(tiny_config(tmp_path), tmp_path / "runs")
    assert run.is_running
    events = await collect(run)

    kinds = [type(event) for event in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1, 2]
    assert any(isinstance(event, BatchEnded) for event in events)
    assert (run.state, run.returncode, run.error_text, run.is_running) == ("finished", 0, None, False)
    assert run.run_dir.parent == (tmp_path / "runs").resolve()
    assert json.loads((run.run_dir / "status.json").read_text())["pid"] == run.pid
    assert (run.run_dir / "checkpoints" / "best.pt").is_file()
    assert run.poll_events() == []  # nothing is read twice
    assert list((tmp_path / "runs" / ".launches").iterdir()) == []  # a clean ending leaves no launch folder


async def test_stop_saves_last_and_an_attached_follower_sees_it(tmp_path):
    run = LaunchedRun.start(tiny_config(tmp_path, epochs=10_000), tmp_path / "runs")
    try:
        await wait_for(run, BatchEnded)
        attached = LaunchedRun.attach(run.run_dir)
        assert attached.is_running and attached.pid == run.pid
        replayed = attached.poll_events()
        assert isinstance(replayed[0], RunStarted)  # an attached follower reads the history too
        attached.stop()
        events = await collect(run)
    finally:
        run.stop()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    assert (run.state, run.returncode) == ("stopped", 130)
    assert json.loads((run.run_dir / "status.json").read_text())["state"] == "stopped"
    assert (run.run_dir / "checkpoints" / "last.pt").is_file()
    await collect(attached)
    assert (attached.state, attached.is_running) == ("stopped", False)


async def test_a_config_the_runner_rejects_surfaces_its_message(tmp_path):
    config = tiny_config(tmp_path)
    bad = config.model_copy(update={"train": config.train.model_copy(update={"epochs": 0})})  # skips validation
    run = LaunchedRun.start(bad, tmp_path / "runs")
    assert await collect(run) == []
    assert (run.state, run.returncode, run.run_dir) == ("failed", 2, None)
    assert "train.epochs" in run.error_text


async def test_missing_data_fails_the_run_with_its_message(tmp_path):
    config = tiny_config(tmp_path)
    missing = tmp_path / "no-such-folder"
    broken = config.model_copy(update={"data": config.data.model_copy(update={"source": "folder", "path": str(missing)})})
    run = LaunchedRun.start(broken, tmp_path / "runs")
    await collect(run)
    assert (run.state, run.returncode) == ("failed", 2)
    assert "no-such-folder" in run.error_text
    assert json.loads((run.run_dir / "status.json").read_text())["state"] == "failed"


def test_attach_refuses_a_run_that_is_not_running(tmp_path):
    run_dir = tmp_path / "runs" / "20260101-000000-done"
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(json.dumps({"state": "finished", "pid": 1}))
    with pytest.raises(LaunchError, match="not running"):
        LaunchedRun.attach(run_dir)
    with pytest.raises(LaunchError, match="status.json"):
        LaunchedRun.attach(tmp_path / "runs")


def resumed_run_dir(runs: Path, pid: int) -> Path:
    """A run stopped after one epoch and resumed by process `pid`, now in its second epoch."""
    run_dir = runs / "20260101-000000-resumed"
    run_dir.mkdir(parents=True)
    started = RunStarted(run_dir=str(run_dir), name="resumed", device="cpu", epochs=3, classes=["a", "b"],
                         train_samples=8, val_samples=4, batches_per_epoch=2, parameters=10, skipped_files=0)

    def epoch(number: int) -> EpochEnded:
        return EpochEnded(epoch=number, epochs=3, train_loss=1.0, val_loss=1.0, val_accuracy=0.5, lr=0.1, seconds=1.0,
                          samples_per_second=8.0)

    events = [started, epoch(1),
              RunFinished(status="stopped", epochs_done=1, best_epoch=1, best_val_accuracy=0.5, seconds=1.0,
                          run_dir=str(run_dir)),
              started, RunResumed(epoch=1, batch=0, step=2), epoch(2)]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(event.to_dict()) + "\n" for event in events))
    (run_dir / "status.json").write_text(json.dumps({"state": "running", "pid": pid}))
    return run_dir


def test_a_resumed_run_is_followed_as_running_whatever_its_history(tmp_path):
    process = subprocess.Popen(["sleep", "60"])
    try:
        run = LaunchedRun.attach(resumed_run_dir(tmp_path / "runs", process.pid))
        events = run.poll_events()
        assert [type(event) for event in events][2:4] == [RunFinished, RunStarted]  # the earlier ending is read too
        assert (run.state, run.is_running) == ("running", True)  # but it is not the run's outcome
    finally:
        process.kill()
        process.wait()


def test_launch_folders_of_ended_processes_are_pruned_but_the_newest_few(tmp_path):
    launches = tmp_path / "runs" / ".launches"

    def launch(name: str, identity: dict | None, mtime: float | None = None) -> None:
        folder = launches / name
        folder.mkdir(parents=True)
        if identity is not None:
            (folder / "launch.json").write_text(json.dumps(identity))
        if mtime is not None:
            os.utime(folder, (mtime, mtime))

    for index in range(5):
        launch(f"launch-{index}", {"pid": 999_999_999}, 1_000 + index)
    launch("launch-alive", process_identity(), 10)  # this process: still running
    launch("launch-young", None)  # being started right now
    launch("launch-old", None, 10)  # from before launch.json: ended
    (launches / "not-a-launch").mkdir()

    removed = prune_launches(tmp_path / "runs", keep=2)

    assert sorted(path.name for path in removed) == ["launch-0", "launch-1", "launch-2", "launch-old"]
    assert sorted(path.name for path in launches.iterdir()) == ["launch-3", "launch-4", "launch-alive",
                                                                 "launch-young", "not-a-launch"]
