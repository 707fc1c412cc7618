"""The Train screen under a time budget: the field writes train.budget, the status line and time left show the plan."""
from __future__ import annotations

import time

import pytest
from textual.widgets import Static

from core.train.events import BudgetPlanned, RunStarted
from screens.train import TrainScreen

pytestmark = pytest.mark.timeout(120)


async def test_the_budget_field_writes_train_budget_and_shows_a_bad_one(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        await pilot.click("#budget")
        await pilot.press("1", "5", "m", "enter")
        assert app.workspace.config.train.budget == "15m"
        await pilot.click("#budget")
        await pilot.press("end", *["backspace"] * 3, "0", "enter")
        error = app.screen.query_one("#settings-error", Static)
        assert error.display and "train.budget" in str(error.render()) and "15m" in str(error.render())
        assert app.workspace.config.train.budget == "15m"
        await pilot.click("#budget")
        await pilot.press("end", "backspace", "enter")
        assert app.workspace.config.train.budget is None and not error.display


async def test_the_plan_is_in_the_status_line_and_the_time_left_is_its_end(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        now = time.time()
        screen.monitor.apply_event(RunStarted(run_dir="", name="ui-test", device="cpu", epochs=1000, classes=list("ab"),
                                              train_samples=30, val_samples=10, batches_per_epoch=12, parameters=10,
                                              skipped_files=0, time=now - 5))
        screen.monitor.apply_event(BudgetPlanned(steps=100, epochs=8.33, budget_s=900, ends_at=now + 600, time=now))
        await pilot.pause()
        assert "≈ 8.3 epochs in 15 min" in str(screen.query_one("#train-status", Static).render())
        progress = screen.monitor.query_one("#run-progress")
        assert progress.eta.run_left(now + 100) == pytest.approx(500)
        assert progress.eta.epochs == 9
