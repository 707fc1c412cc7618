"""Heatmaps in the app at 80x24: Classify's h overlays the evidence for the top class, then the next, then off;
the Evaluate view shows each top loss beside the evidence for its wrong prediction."""
from __future__ import annotations

import pytest
from textual.widgets import Static

from core.data.images import open_image
from core.use.overlay import overlay_picture
from screens.evaluate import EvaluateScreen
from screens.widgets.image_view import HALF_BLOCK, ImageView
from screen_text import assert_footer_fits, screen_lines
from tiny_model import open_classify, tiny_model_fixture  # noqa: F401  (the tiny_model fixture)
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def status_text(screen) -> str:
    return str(screen.query_one("#classify-status", Static).render())


async def test_h_cycles_the_heatmap_through_the_top_classes_then_off(tiny_model):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot, tiny_model.shapes / "val" / "square")
        await wait_until(pilot, lambda: "classified 2" in status_text(screen))
        preview = screen.query_one("#preview", ImageView)
        await wait_until(pilot, lambda: preview.image is not None)
        plain = preview.image
        top = screen.results[screen.selected_index].top

        await pilot.press("h")
        await wait_until(pilot, lambda: f"evidence for {top[0][0]}" in status_text(screen))
        assert "top 1" in status_text(screen) and "layer 0" in status_text(screen)
        overlaid = preview.image
        assert overlaid is not plain and overlaid.size == (16, 16)  # the model's input, as the heatmap is

        await pilot.press("h")
        await wait_until(pilot, lambda: f"evidence for {top[1][0]}" in status_text(screen))
        second = preview.image
        assert second.tobytes() != overlaid.tobytes()  # another class's evidence

        await pilot.press("n")  # the next image keeps showing the same rank's heatmap
        await wait_until(pilot, lambda: preview.image.tobytes() != second.tobytes())
        assert "top 2" in status_text(screen) and screen.explained_rank == 1
        await assert_footer_fits(pilot)

        await pilot.press("h", "h", "h", "h")  # ranks 3, 4 and 5 of the five classes, then off
        await wait_until(pilot, lambda: "heatmap off" in status_text(screen))
        file = open_image(screen.paths[screen.selected_index]).convert("RGB")
        await wait_until(pilot, lambda: preview.image is not None and preview.image.convert("RGB").tobytes() == file.tobytes())
        assert screen.explained_rank is None


def test_the_overlay_picture_is_rgb_at_the_heatmap_size():
    import torch

    picture = overlay_picture(torch.zeros((1, 4, 6), dtype=torch.uint8), torch.ones((4, 6)))
    assert picture.mode == "RGB" and picture.size == (6, 4)


async def test_the_evaluate_view_shows_each_top_loss_beside_its_heatmap(tiny_model):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot, tiny_model.shapes / "val")
        await wait_until(pilot, lambda: screen.evaluation is not None)
        await pilot.press("e")
        evaluate = app.screen
        assert isinstance(evaluate, EvaluateScreen)
        await wait_until(pilot, lambda: evaluate.evaluation is not None)
        image, heatmap = evaluate.query_one("#loss-image", ImageView), evaluate.query_one("#loss-heatmap", ImageView)
        await wait_until(pilot, lambda: heatmap.image is not None and image.image is not None)
        first = heatmap.image
        assert first.size == (16, 16) and heatmap.tooltip == f"evidence for {evaluate.evaluation.top_losses[0].predicted} (Grad-CAM)"
        assert heatmap.region.x >= image.region.right - 1 and heatmap.region.width >= 8  # beside it, both visible
        await pilot.press("n")
        await wait_until(pilot, lambda: heatmap.image is not first)
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert sum(line.count(HALF_BLOCK) for line in lines) > 50
