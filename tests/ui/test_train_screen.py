"""The Train screen: settings into the config, a real run started, followed and shown to the end."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Sparkline, Static

from core.launch import LaunchedRun
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
