"""The Sweeps screen at 80x24 and 200x50: a study's trials sortable, the best-so-far chart and importances,
a trial's run opened, the best values applied to the config, and starting a sweep needing a sweep: block."""
from __future__ import annotations

from pathlib import Path

import pytest
from screen_text import assert_footer_fits, screen_lines
from textual.widgets import DataTable, Static
from waiting import wait_until

from core.sweep.space import SweepSpec
from core.sweep.study import RUN_DIR, StudyFolder, open_study
from core.sweep.summary import summarize, write_summary
from screens.run_views import RunDetailsScreen
from screens.sweeps import SweepsScreen
from screens.widgets.line_chart import LineChart

pytestmark = pytest.mark.timeout(120)
SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
SPACE = {"train.optimizer.lr": {"log_uniform": [1e-3, 0.3]}, "data.batch_size": {"choice": [16, 32]}}
VALUES = (0.4, 0.8, 0.6, 0.7)  # trial 1 is the best


def make_study(runs: Path) -> StudyFolder:
    """A study of four finished trials, each with an (empty) run directory."""
    spec = SweepSpec.model_validate({"space": SPACE, "sampler": "random", "seed": 0})
    folder = StudyFolder.under(runs, "ui-study")
    study = open_study(folder, spec, epochs=1)
    for number, value in enumerate(VALUES):
        trial = study.ask()
        spec.sample(trial)
        run = runs / f"20260101-00000{number}-ui-test-trial{number}"
        (run / "checkpoints").mkdir(parents=True)
        (run / "status.json").write_text('{"state": "finished", "epochs": 1, "epochs_done": 1}')
        trial.set_user_attr(RUN_DIR, str(run))
        study.tell(trial, value)
    write_summary(folder, summarize(study, spec.metric))
    return folder


def column(screen: SweepsScreen, key: str) -> list[str]:
    table = screen.query_one("#trials-table", DataTable)
    index = [column.key for column in screen.columns].index(key)
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


async def open_sweeps(app, pilot) -> SweepsScreen:
    await pilot.press("6")
    screen = app.screen
    assert isinstance(screen, SweepsScreen)
    await pilot.pause()
    return screen


@SIZES
async def test_a_study_is_shown_sorted_charted_and_its_best_applied(small_shapes_config, make_app, tmp_path, size):
    folder = make_study(tmp_path / "runs")
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_sweeps(app, pilot)
        await wait_until(pilot, lambda: screen.query_one("#trials-table", DataTable).row_count == 4)
        assert column(screen, "number") == ["0", "1", "2", "3"]
        assert column(screen, "value") == ["0.4", "0.8", "0.6", "0.7"]
        assert [c.label for c in screen.columns] == ["#", "state", "value", "time", "lr", "batch_size"]
        assert "ui-study" in str(screen.query_one("#study-line", Static).render()) and "best #1: 0.8" in str(
            screen.query_one("#study-line", Static).render())
        chart = screen.query_one("#best-chart", LineChart)
        assert chart.series[0].points == [(0.0, 0.4), (1.0, 0.8), (2.0, 0.8), (3.0, 0.8)] and chart.x_label == "trial"
        await wait_until(pilot, lambda: "importance" in str(screen.query_one("#importances", Static).render()))
        lines = screen_lines(app)
        assert all(len(line) <= size[0] for line in lines) and any("trial" in line for line in lines)
        await assert_footer_fits(pilot)

        await pilot.press("s", "s")  # state, then value: best first, as the study maximizes
        await pilot.pause()
        assert screen.sort_key == "value" and column(screen, "value") == ["0.8", "0.7", "0.6", "0.4"]

        assert screen.selected().number == 0  # the cursor stays on its trial
        await pilot.press("up", "up", "up", "enter")  # the best trial's run
        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailsScreen))
        assert app.screen.run_dir == folder.path.parents[1] / "20260101-000001-ui-test-trial1"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        await pilot.press("a")
        await pilot.pause()
        best = screen.summary.best
        assert app.workspace.config.train.optimizer.lr == best.params["train.optimizer.lr"]
        assert app.workspace.config.data.batch_size == best.params["data.batch_size"] and app.workspace.dirty


async def test_no_studies_says_how_to_start_and_a_config_without_a_sweep_block_is_refused(
        small_shapes_config, make_app, tmp_path) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sweeps(app, pilot)
        assert "no studies yet" in str(screen.query_one("#study-line", Static).render())
        await pilot.press("n")
        await wait_until(pilot, lambda: any("no sweep: block" in str(n.message) for n in app._notifications))
        assert not (tmp_path / "runs" / ".sweeps").exists()
        await pilot.press("x", "a")  # nothing to stop, nothing to apply: said, not raised
        await pilot.pause()
        assert app.screen is screen
