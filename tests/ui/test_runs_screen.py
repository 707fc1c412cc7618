"""The Runs screen: prepared run directories listed with their states; a running one followed in Train."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from core.events import EpochEnded, RunStarted
from screens.runs import RunsScreen
from screens.train import TrainScreen
from screens.widgets.metric_chart import MetricChart
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def make_run(runs: Path, name: str, state: str, pid: int, accuracies: list[float]) -> Path:
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({
        "state": state, "pid": pid, "started": f"2026-01-0{name[-1]}T10:00:00+00:00", "epochs": 4,
        "epochs_done": len(accuracies), "best_val_accuracy": None, "error": None}))
    (run / "metrics.csv").write_text("epoch,train_loss,val_loss,val_accuracy\n" + "".join(
        f"{epoch},1.0,0.9,{accuracy}\n" for epoch, accuracy in enumerate(accuracies, start=1)))
    events = [RunStarted(run_dir=str(run), name=name, device="cpu", epochs=4, classes=["a", "b"], train_samples=8,
                         val_samples=4, batches_per_epoch=2, parameters=10, skipped_files=0)]
    events += [EpochEnded(epoch=epoch, epochs=4, train_loss=1.0, val_loss=0.9, val_accuracy=accuracy, lr=0.01,
                          seconds=1.0, samples_per_second=8.0) for epoch, accuracy in enumerate(accuracies, start=1)]
    (run / "events.jsonl").write_text("".join(json.dumps(event.to_dict()) + "\n" for event in events))
    return run


async def test_runs_are_listed_and_a_running_one_is_followed(small_shapes_config, make_app, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "run-1", "finished", 999_999_999, [0.5, 0.75, 0.7, 0.8])
    make_run(runs, "run-2", "stopped", 999_999_999, [0.25])
    make_run(runs, "run-3", "running", os.getpid(), [0.5, 0.625])  # this test's own process: alive

    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("runs")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one("#runs-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        rows = [table.get_row_at(index)[:4] for index in range(3)]
        assert rows == [["run-3", "running", "2/4", "62.5%"], ["run-2", "stopped", "1/4", "25.0%"],
                        ["run-1", "finished", "4/4", "80.0%"]]
        metrics = screen.query_one("#run-metrics", DataTable)
        await wait_until(pilot, lambda: metrics.row_count == 2)
        assert "run-3" in str(screen.query_one("#run-files", Static).render())

        await pilot.press("down", "down")
        await wait_until(pilot, lambda: metrics.row_count == 4)
        assert screen.query_one("#run-val-accuracy", MetricChart).values == [0.5, 0.75, 0.7, 0.8]
        await pilot.press("t")  # finished: nothing to follow
        assert app.screen is screen and app.training is None

        await pilot.press("up", "up", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await wait_until(pilot, lambda: train.query_one("#epochs-table", DataTable).row_count == 2)
        assert app.training.run_dir == (runs / "run-3").resolve() and app.training.is_running
        assert str(train.query_one("#train-status", Static).render()).startswith("running")


async def test_no_runs_yet(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("runs")
        files = app.screen.query_one("#run-files", Static)
        await wait_until(pilot, lambda: "no runs" in str(files.render()))
        await pilot.press("c", "t")  # nothing selected: nothing happens
        assert isinstance(app.screen, RunsScreen)
