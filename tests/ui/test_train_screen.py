"""The Train screen: settings into the config, a real run started, followed and shown to the end."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, Sparkline, Static

from core.config import TABLES
from core.errors import DataError
from core.launch import LaunchedRun
from screens.param_dialogs import EditParams
from screens.train import TrainScreen
from screens.widgets.metric_chart import MetricChart
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def status_text(app) -> str:
    return str(app.screen.query_one("#train-status", Static).render())


async def test_a_run_is_started_followed_and_finished(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert status_text(app).startswith("ready")
        app.screen.query_one("#epochs", Input).value = "2"  # typed, not yet confirmed: start applies it

        await pilot.press("s")
        run = app.training
        assert isinstance(run, LaunchedRun)
        await wait_until(pilot, lambda: not run.is_running and status_text(app).startswith("finished"))

        screen = app.screen
        assert app.workspace.config.train.epochs == 2
        assert screen.query_one("#epochs-table", DataTable).row_count == 2
        assert len(screen.query_one("#val-accuracy", MetricChart).values) == 2
        assert screen.query_one("#train-loss Sparkline", Sparkline).data
        assert "best val acc" in status_text(app)
        assert str(run.run_dir) in str(screen.query_one("#run-dir", Static).render())
        assert (run.run_dir / "checkpoints" / "best.pt").is_file()


async def test_settings_write_through_and_errors_are_shown(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        screen = app.screen
        await pilot.click("#epochs")
        await pilot.press("end", *["backspace"] * 6, "7", "enter")
        assert app.workspace.config.train.epochs == 7 and app.workspace.dirty

        await pilot.click("#lr")
        await pilot.press("end", *["backspace"] * 6, "2", "0", "enter")
        error = screen.query_one("#settings-error", Static)
        assert error.display and "lr" in str(error.render())
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr

        screen.query_one("#optimizer").value = "adam"
        await pilot.pause()
        assert app.workspace.config.train.optimizer.name == "adam"
        await pilot.press("s")  # the bad lr stops the start
        assert app.training is None


async def test_a_run_that_fails_shows_why(small_shapes_config, make_app, tmp_path):
    config = small_shapes_config.model_copy(update={"data": small_shapes_config.data.model_copy(
        update={"source": "folder", "path": str(tmp_path / "missing")})})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.press("s")
        await wait_until(pilot, lambda: status_text(app).startswith("failed"))
        assert "missing" in status_text(app)


async def open_train(app, pilot) -> TrainScreen:
    await app.switch_mode("train")
    await pilot.pause()
    assert isinstance(app.screen, TrainScreen)
    return app.screen


def offered(select: Select) -> list[str]:
    return [str(option.prompt) for option in select.query_one(OptionList).options]


def notifications(app, monkeypatch) -> list[str]:
    """The messages of app.notify from now on."""
    notes: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **_: notes.append(message))
    return notes


def fake_lr_find(monkeypatch, find_lr) -> None:
    """Make the screen's `from core.lr_find import find_lr` give `find_lr`."""
    module = ModuleType("core.lr_find")
    module.find_lr = find_lr
    monkeypatch.setitem(sys.modules, "core.lr_find", module)


async def test_choices_offer_exactly_the_tables_names(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        for key, table in TABLES.items():
            select = screen.query_one(f"#{key}", Select)
            assert offered(select) == list(table.names)
            assert select.value == getattr(app.workspace.config.train, key).name
        assert offered(screen.query_one("#precision", Select)) == ["fp32", "bf16", "fp16"]


async def test_switching_optimizer_keeps_shared_params_and_drops_the_rest(small_shapes_config, make_app):
    config = small_shapes_config.model_copy(deep=True)
    config.train.optimizer = TABLES["optimizer"].model("sgd")(lr=0.05, momentum=0.9, weight_decay=1e-4)
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        screen.query_one("#optimizer", Select).value = "adam"
        await pilot.pause()
        optimizer = app.workspace.config.train.optimizer.model_dump()
        assert optimizer["name"] == "adam" and "momentum" not in optimizer
        assert optimizer["lr"] == 0.05 and optimizer["weight_decay"] == 1e-4
        assert optimizer["betas"] == (0.9, 0.999)  # adam's own, from its defaults

        screen.query_one("#precision", Select).value = "bf16"
        await pilot.pause()
        assert app.workspace.config.train.precision == "bf16"


async def test_letter_keys_reach_the_screen_from_number_inputs(small_shapes_config, make_app, monkeypatch):
    calls = []
    monkeypatch.setattr(TrainScreen, "action_edit_params", lambda self: calls.append("p"))
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_train(app, pilot)
        await pilot.click("#lr")
        await pilot.press("end", *["backspace"] * 6, "2", "e", "-", "3", "p")
        assert app.screen.query_one("#lr", Input).value == "2e-3" and calls == ["p"]


@pytest.fixture
def one_cycle_app(small_shapes_config, make_app):
    """An app on the small config with the one_cycle schedule (the table entry with the most parameters)."""
    config = small_shapes_config.model_copy(deep=True)
    config.train.schedule = TABLES["schedule"].model("one_cycle")()
    return make_app(config)


async def open_params(app, pilot) -> EditParams:
    await open_train(app, pilot)
    await pilot.press("p")
    assert isinstance(app.screen, EditParams)
    return app.screen


async def test_params_dialog_edits_a_schedule_parameter_and_names_a_bad_key(one_cycle_app):
    app = one_cycle_app
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_params(app, pilot)
        assert dialog.query_one("#optimizer-lr", Input).value == "0.01"
        assert dialog.query_one("#schedule-three_phase", Select).value is False

        field = dialog.query_one("#schedule-pct_start", Input)
        field.value = "1.5"
        field.focus()
        await pilot.press("enter")
        assert app.screen is dialog
        error = str(dialog.query_one("#params-error", Static).render())
        assert "pct_start" in error
        assert app.workspace.config.train.schedule.pct_start == 0.25

        field.value = "0.4"
        dialog.query_one("#optimizer-lr", Input).value = "0.02"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert app.workspace.config.train.schedule.pct_start == 0.4 and app.workspace.dirty
        assert app.screen.query_one("#lr", Input).value == "0.02"  # the form's lr shown on the screen

        dialog = await open_params(app, pilot)
        dialog.query_one("#schedule-pct_start", Input).value = "0.3"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert app.workspace.config.train.schedule.pct_start == 0.4


async def test_params_dialog_fits_80x24_and_scrolls(one_cycle_app):
    app = one_cycle_app
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_params(app, pilot)
        box = dialog.query_one("#params-dialog").region
        assert box.right <= 80 and box.bottom <= 24
        assert dialog.query_one("#save").region.bottom <= box.bottom
        last = dialog.query_one("#schedule-max_momentum", Input)
        last.focus()
        await pilot.pause()
        assert dialog.query_one("#param-fields").region.contains_region(last.region)


@dataclass
class FakeResult:
    lrs: list[float]
    losses: list[float]
    suggestion: float
    reason: str


async def test_lr_find_fills_in_the_suggestion(small_shapes_config, make_app, monkeypatch):
    seen = {}

    def fake_find_lr(config, *, steps=100, should_stop=lambda: False, progress=None):
        seen["config"] = config
        for step in range(steps):
            if progress:
                progress(step + 1, steps)
        return FakeResult([1e-5, 1e-1], [2.0, 9.0], 0.0031622, "steepest descent of the smoothed loss")

    fake_lr_find(monkeypatch, fake_find_lr)
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.workspace.config.train.optimizer.lr == 0.00316, deadline=30)
        assert seen["config"].name == small_shapes_config.name
        assert screen.query_one("#lr", Input).value == "0.00316"
        assert status_text(app).startswith("ready")
        assert notes == ["suggested lr 0.00316: steepest descent of the smoothed loss"]


async def test_lr_find_errors_show_in_the_status_line(small_shapes_config, make_app, monkeypatch):
    def failing(config, **_):
        raise DataError("no images found under data/")

    fake_lr_find(monkeypatch, failing)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: status_text(app).startswith("failed"), deadline=30)
        assert "no images found" in status_text(app)
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr


async def test_lr_find_with_the_real_finder(small_shapes_config, make_app, monkeypatch):
    pytest.importorskip("core.lr_find")
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: not screen.finding_lr, deadline=60)
        assert status_text(app).startswith("ready"), status_text(app)
        lr = app.workspace.config.train.optimizer.lr
        assert len(notes) == 1 and notes[0].startswith(f"suggested lr {lr:g}: ")
        assert screen.query_one("#lr", Input).value == f"{lr:g}"


async def test_lr_find_is_refused_during_a_run_and_x_stops_it(small_shapes_config, make_app, monkeypatch):
    def until_stopped(config, *, steps=100, should_stop=lambda: False, progress=None):
        while not should_stop():
            time.sleep(0.01)
        return FakeResult([1e-5], [2.0], 0.5, "a stopped finder's result must not be used")

    fake_lr_find(monkeypatch, until_stopped)
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        app.training = SimpleNamespace(is_running=True)
        await pilot.press("l")
        assert not screen.finding_lr and "a run is going" in notes[-1]

        app.training = None
        await pilot.press("l")
        await wait_until(pilot, lambda: status_text(app).startswith("finding lr"), deadline=10)
        await pilot.press("s")
        assert app.training is None and "lr finder is running" in notes[-1]
        await pilot.press("x")
        await wait_until(pilot, lambda: not screen.finding_lr, deadline=10)
        assert status_text(app).startswith("ready")
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr
