"""The Evaluate view at 80x24: opened from Runs (the run's own validation split) and from Classify."""
from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Label, Static

from screens.evaluate import EvaluateScreen
from screens.runs import RunsScreen
from screens.widgets.confusion import ConfusionMatrix
from screens.widgets.fit import PathLabel
from screens.widgets.image_view import ImageView
from screen_text import assert_footer_fits, screen_lines
from tiny_model import open_classify, tiny_model_fixture  # noqa: F401  (the tiny_model fixture)
from waiting import settle, wait_until

pytestmark = pytest.mark.timeout(120)


async def test_evaluate_a_run_from_runs(tiny_model):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("runs")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await wait_until(pilot, lambda: runs.query_one("#runs-table", DataTable).row_count == 1)
        await assert_footer_fits(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, EvaluateScreen)  # at once; the work runs in a thread
        screen = app.screen
        await wait_until(pilot, lambda: screen.evaluation is not None)
        evaluation = screen.evaluation
        assert evaluation.count == 10 and evaluation.classes == sorted(p.name for p in (tiny_model.shapes / "val").iterdir())

        per_class = screen.query_one("#per-class", DataTable)
        assert per_class.row_count == 5 and str(per_class.get_row_at(0)[0]) == evaluation.classes[0]
        assert screen.query_one("#eval-matrix", ConfusionMatrix).row_count == 5
        summary = str(screen.query_one("#eval-summary", Static).render())
        assert f"accuracy {evaluation.accuracy:.1%}" in summary and "saved in" in summary
        saved = json.loads((tiny_model.run / "evaluation.json").read_text())
        assert saved["confusion"] == evaluation.confusion
        assert (tiny_model.run / "confusion.csv").is_file()

        losses = evaluation.top_losses
        assert len(losses) >= 2
        title = screen.query_one("#loss-title", Label)
        assert f"1/{len(losses)}" in str(title.render())
        await wait_until(pilot, lambda: screen.query_one("#loss-image", ImageView).image is not None)
        await pilot.press("n")
        assert screen.loss_index == 1 and f"2/{len(losses)}" in str(title.render())
        assert screen.query_one("#loss-path", PathLabel).text == str(losses[1].path)
        await pilot.press("p", "p")  # wraps round to the last
        assert screen.loss_index == len(losses) - 1

        await settle(pilot)  # the chosen image's heatmap is made in a worker: read the screen once it is drawn

        def every_class_row_whole() -> bool:  # name, three scores, support
            lines = screen_lines(app)
            return all(any(line.split()[:5] == [report.name, f"{report.precision:.2f}", f"{report.recall:.2f}",
                                                f"{report.f1:.2f}", str(report.support)] for line in lines)
                       for report in evaluation.per_class)

        try:  # drawn once the layout has caught up with the table's rows (a busy machine's later frame)
            await wait_until(pilot, every_class_row_whole, deadline=30)
        except AssertionError:
            pytest.fail("a class row is not on screen whole:\n" + "\n".join(screen_lines(app)))
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        text = "\n".join(lines)
        assert "true\\pred" in text and f"loss {losses[-1].loss:.2f}" in text
        await assert_footer_fits(pilot)

        await pilot.press("escape")
        assert app.screen is runs


async def test_evaluate_from_classify_shows_the_scored_folder(tiny_model):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        classify = await open_classify(app, pilot, tiny_model.shapes / "val")
        await wait_until(pilot, lambda: classify.evaluation is not None)

        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EvaluateScreen) and screen.evaluation is classify.evaluation
        assert screen.query_one("#per-class", DataTable).row_count == 5
        await pilot.press("escape")
        assert app.screen is classify
