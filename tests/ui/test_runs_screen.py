"""The Runs screen at 80x24 and 200x50: listing and sorting, refreshing by itself, details, comparing two runs,
deleting after confirmation, cleaning up runs that failed early, following one, and TensorBoard on 127.0.0.1."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

import screens.runs
from core.config import save_config
from core.train.events import EpochEnded, RunFinished, RunResumed, RunStarted
from core.runs.tensorboard_server import port_open
from screens.classify import ClassifyScreen
from screens.dialogs import Confirm
from screens.run_views import CompareScreen, RunDetailsScreen
from screens.runs import RunsScreen
from screens.train import TrainScreen
from screens.widgets.compare_chart import CompareChart
from screens.widgets.metric_chart import MetricChart
from screen_text import assert_footer_fits, screen_lines
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)
SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])


def make_run(runs: Path, name: str, state: str, pid: int, accuracies: list[float], config=None,
             error: str | None = None) -> Path:
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({
        "state": state, "pid": pid, "started": f"2026-01-0{name[-1]}T10:00:00+00:00", "epochs": 4,
        "ended": None if state == "running" else f"2026-01-0{name[-1]}T10:01:05+00:00",
        "epochs_done": len(accuracies), "best_val_accuracy": None, "error": error}))
    (run / "metrics.csv").write_text("epoch,train_loss,val_loss,val_accuracy\n" + "".join(
        f"{epoch},1.0,0.9,{accuracy}\n" for epoch, accuracy in enumerate(accuracies, start=1)))
    events = [RunStarted(run_dir=str(run), name=name, device="cpu", epochs=4, classes=["a", "b"], train_samples=8,
                         val_samples=4, batches_per_epoch=2, parameters=10, skipped_files=0)]
    events += [EpochEnded(epoch=epoch, epochs=4, train_loss=1.0, val_loss=0.9, val_accuracy=accuracy, lr=0.01,
                          seconds=1.0, samples_per_second=8.0) for epoch, accuracy in enumerate(accuracies, start=1)]
    (run / "events.jsonl").write_text("".join(json.dumps(event.to_dict()) + "\n" for event in events))
    if config is not None:
        save_config(config, run / "config.yaml")
    return run


def cells(screen: RunsScreen, key: str) -> list[str]:
    table = screen.query_one("#runs-table", DataTable)
    return [str(table.get_row_at(row)[list(table.columns).index(key)]) for row in range(table.row_count)]


async def open_runs(app, pilot, rows: int) -> RunsScreen:
    await pilot.press("5")
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    await wait_until(pilot, lambda: screen.query_one("#runs-table", DataTable).row_count == rows)
    await pilot.pause()
    return screen


@SIZES
async def test_runs_are_listed_sorted_and_a_running_one_is_followed(small_shapes_config, make_app, tmp_path, size):
    runs = tmp_path / "runs"
    make_run(runs, "run-1", "finished", 999_999_999, [0.5, 0.75, 0.7, 0.8], small_shapes_config)
    make_run(runs, "run-2", "stopped", 999_999_999, [0.25], small_shapes_config)
    make_run(runs, "run-3", "running", os.getpid(), [0.5, 0.625], small_shapes_config)  # this test's process: alive

    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_runs(app, pilot, 3)
        assert cells(screen, "state") == ["running", "stopped", "finished"]  # newest first
        assert cells(screen, "epochs") == ["2/4", "1/4", "4/4"] and cells(screen, "best") == ["62.5%", "25.0%", "80.0%"]
        assert cells(screen, "name") == ["ui-test"] * 3
        shown = set(screen.shown_columns)
        assert {"state", "name", "best", "epochs", "started"} <= shown
        if size[0] >= 200:  # every column where there is room
            assert shown == {"state", "name", "dataset", "model", "best", "epochs", "time", "started"}
            assert cells(screen, "dataset") == ["shapes"] * 3 and cells(screen, "time")[2] == "1m05s"
        assert all(len(line) <= size[0] for line in screen_lines(app))
        await assert_footer_fits(pilot)

        await pilot.press("s")  # by best accuracy, best first
        await pilot.pause()
        assert cells(screen, "best") == ["80.0%", "62.5%", "25.0%"]
        assert screen.selected.name == "run-3"  # the cursor stays on its run
        await pilot.press("up")
        metrics = screen.query_one("#run-metrics", DataTable)
        await wait_until(pilot, lambda: metrics.row_count == 4)
        assert screen.query_one("#run-val-accuracy", MetricChart).values == [0.5, 0.75, 0.7, 0.8]
        await pilot.press("t")  # finished: nothing to follow
        await pilot.pause()
        assert app.screen is screen and app.followed.run is None

        await pilot.press("down", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert app.followed.run.run_dir == (runs / "run-3").resolve() and app.followed.is_running


def append_events(run: Path, *events) -> None:
    with (run / "events.jsonl").open("a") as handle:
        handle.writelines(json.dumps(event.to_dict()) + "\n" for event in events)


def epoch_ended(epoch: int, accuracy: float = 0.5) -> EpochEnded:
    return EpochEnded(epoch=epoch, epochs=4, train_loss=1.0, val_loss=0.9, val_accuracy=accuracy, lr=0.01, seconds=1.0,
                      samples_per_second=8.0)


async def test_a_resumed_run_found_in_runs_is_followed_live_and_never_offers_resume(small_shapes_config, make_app,
                                                                                     tmp_path):
    run = make_run(tmp_path / "runs", "run-1", "running", os.getpid(), [0.5], small_shapes_config)
    started = json.loads((run / "events.jsonl").read_text().splitlines()[0])
    append_events(run, RunFinished(status="stopped", epochs_done=1, best_epoch=1, best_val_accuracy=0.5, seconds=1.0,
                                   run_dir=str(run)),
                  RunStarted(**{key: value for key, value in started.items() if key not in ("type", "time")}),
                  RunResumed(epoch=1, batch=0, step=2), epoch_ended(2))
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(app, pilot, 1)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        table = train.query_one("#epochs-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        assert str(train.query_one("#train-status", Static).render()).startswith("running")
        assert train.monitor.epochs_done == 2 and not train.check_action("resume", ())
        append_events(run, epoch_ended(3))
        await wait_until(pilot, lambda: table.row_count == 3)  # still followed: the numbers move on
        assert app.followed.is_running and train.monitor.epochs_done == 3
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is train  # no resume dialog for a running run


@SIZES
async def test_runs_of_one_config_tell_apart_and_long_cells_are_whole_where_there_is_room(small_shapes_config,
                                                                                        make_app, tmp_path, size):
    runs = tmp_path / "runs"
    for name, second in (("run-1", 5), ("run-2", 47)):
        run = make_run(runs, name, "finished", 999_999_999, [0.5])
        (run / "config.yaml").write_text(f"name: ui-test\ndata: {{source: folder, path: {tmp_path}/"
                                         "a-photo-collection-with-a-long-name}\nmodel: {layers: [flatten]}\n")
        status = json.loads((run / "status.json").read_text())
        status["started"] = f"2026-01-01T10:00:{second:02}+00:00"
        (run / "status.json").write_text(json.dumps(status))
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_runs(app, pilot, 2)
        assert cells(screen, "name") == ["ui-test"] * 2
        assert cells(screen, "started") == ["01-01 10:00:47", "01-01 10:00:05"]  # the seconds tell them apart
        if size[0] >= 200:
            assert cells(screen, "dataset") == ["a-photo-collection-with-a-long-name"] * 2
        assert all(len(line) <= size[0] for line in screen_lines(app))


async def test_the_list_refreshes_by_itself_while_a_run_is_going(small_shapes_config, make_app, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(screens.runs, "REFRESH_SECONDS", 0.2)
    run = make_run(tmp_path / "runs", "run-1", "running", os.getpid(), [0.5], small_shapes_config)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(app, pilot, 1)
        assert cells(screen, "epochs") == ["1/4"]
        status = json.loads((run / "status.json").read_text())
        (run / "status.json").write_text(json.dumps({**status, "epochs_done": 2}))
        await wait_until(pilot, lambda: cells(screen, "epochs") == ["2/4"], deadline=10)


@SIZES
async def test_a_run_in_detail_and_two_compared(small_shapes_config, make_app, tmp_path, size):
    runs = tmp_path / "runs"
    faster = small_shapes_config.model_copy(update={"train": small_shapes_config.train.model_copy(
        update={"optimizer": small_shapes_config.train.optimizer.model_copy(update={"lr": 0.5})})})
    make_run(runs, "run-1", "finished", 999_999_999, [0.5, 0.75, 0.8], small_shapes_config)
    make_run(runs, "run-2", "finished", 999_999_999, [0.25, 0.5], faster)
    (runs / "run-1" / "evaluation.json").write_text(json.dumps({
        "accuracy": 0.8, "top5_accuracy": 1.0, "per_class": [{"class": "a", "support": 6}], "confused_pairs": [],
        "data": "the validation split"}))

    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_runs(app, pilot, 2)
        await pilot.press("down", "enter")  # run-1
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailsScreen))
        details = app.screen
        summary = details.query_one("#details-summary", Static)
        await wait_until(pilot, lambda: "evaluation: 80.0%" in str(summary.render()))
        assert "run-1" in str(summary.render()) and "best val acc 80.0%" in str(summary.render())
        await pilot.press("right", "right")  # the config tab
        await pilot.pause()
        assert any("name: ui-test" in line for line in screen_lines(app))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen

        await pilot.press("m", "up", "m")  # run-1, then run-2
        await pilot.pause()
        assert cells(screen, "mark") == ["B", "A"]
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        diff = compare.query_one("#compare-diff", DataTable)
        await wait_until(pilot, lambda: diff.row_count == 1)
        assert [str(cell) for cell in diff.get_row_at(0)] == ["train.optimizer.lr", "0.01", "0.5"]
        chart = compare.query_one("#compare-chart", CompareChart)
        assert [list(series.values) for series in chart.series] == [[0.5, 0.75, 0.8], [0.25, 0.5]]
        text = "\n".join(screen_lines(app))
        assert "train.optimizer.lr" in text and "A ━━ run-1" in text and "B ━━ run-2" in text
        assert all(len(line) <= size[0] for line in screen_lines(app))
        await assert_footer_fits(pilot)
        await pilot.press("n")
        assert compare.query_one("#compare-chart", CompareChart).title.startswith("val loss")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


@SIZES
async def test_a_run_is_deleted_only_after_confirming_and_never_while_running(small_shapes_config, make_app,
                                                                              tmp_path, size):
    runs = tmp_path / "runs"
    done = make_run(runs, "run-1", "finished", 999_999_999, [0.5], small_shapes_config)
    going = make_run(runs, "run-2", "running", os.getpid(), [0.5], small_shapes_config)
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_runs(app, pilot, 2)
        await pilot.press("d")  # run-2: running
        await pilot.pause()
        assert app.screen is screen and going.is_dir()

        await pilot.press("down", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "run-1" in "\n".join(screen_lines(app))
        await pilot.press("escape")  # cancelled: kept
        await pilot.pause()
        assert done.is_dir()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.query_one("#runs-table", DataTable).row_count == 1)
        assert not done.exists() and going.is_dir()


async def test_runs_that_failed_before_their_first_epoch_are_shown_and_cleaned_up(small_shapes_config, make_app,
                                                                                  tmp_path):
    runs = tmp_path / "runs"
    kept = make_run(runs, "run-1", "failed", 999_999_999, [0.5], small_shapes_config, error="disk full")
    early = make_run(runs, "run-2", "failed", 999_999_999, [], small_shapes_config, error="no such folder")
    killed = make_run(runs, "run-3", "running", 999_999_999, [], small_shapes_config)  # its process is gone
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(app, pilot, 3)
        assert cells(screen, "state") == ["failed early", "failed early", "failed"]
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "no such folder" in "\n".join(screen_lines(app))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.query_one("#runs-table", DataTable).row_count == 1)
        assert kept.is_dir() and not early.exists() and not killed.exists()


async def test_classify_with_a_runs_model_goes_through_the_app(small_shapes_config, make_app, tmp_path):
    run = make_run(tmp_path / "runs", "run-1", "finished", 999_999_999, [0.5], small_shapes_config)
    (run / "checkpoints" / "best.pt").write_bytes(b"not a model")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(app, pilot, 1)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ClassifyScreen))
        status = app.screen.query_one("#classify-status", Static)
        await wait_until(pilot, lambda: "best.pt" in str(status.render()))


def listening_address(port: int) -> str | None:
    """The local address a TCP socket listens on at `port`, from /proc/net/tcp (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return None


@SIZES
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
async def test_tensorboard_serves_the_runs_on_loopback_and_stops_with_the_app(small_shapes_config, make_app,
                                                                              tmp_path, size):
    make_run(tmp_path / "runs", "run-1", "finished", 999_999_999, [0.5], small_shapes_config)
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        await open_runs(app, pilot, 1)
        await pilot.press("b")
        server = app.tensorboard
        tensorboard_line = app.screen.query_one("#tensorboard-line", Static)
        await wait_until(pilot, lambda: "ssh -L" in str(tensorboard_line.render()), deadline=90)
        port, process = server.port, server.process
        assert server.is_running and port_open(port) and listening_address(port) == "127.0.0.1"
        line = str(tensorboard_line.render())
        assert f"http://127.0.0.1:{port}" in line and f"ssh -L {port}:127.0.0.1:{port} " in line
        assert all(len(text) <= size[0] for text in screen_lines(app))
    assert process.poll() is not None and not port_open(port)
