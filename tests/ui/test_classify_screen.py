"""The Classify screen: a checkpoint from a real (tiny) training run classifies typed image paths."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList, Static

from core.runs import RunDir
from core.training import fit
from screens.classify import ClassifyScreen
from screens.widgets.image_view import ImageView
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def trained(small_shapes_config, tmp_path) -> Path:
    """Train the tiny config one epoch into tmp_path/runs; return the shapes folder."""
    config = small_shapes_config.model_copy(update={"train": small_shapes_config.train.model_copy(
        update={"device": "cpu"})})
    fit(config, RunDir.create(tmp_path / "runs", config.name, config), emit=lambda event: None,
        should_stop=lambda: False)
    return Path(config.data.path)


async def answer(pilot, text: str) -> None:
    """Type `text` into the open AskText dialog and accept it."""
    await pilot.pause()
    pilot.app.screen.query_one("#answer", Input).value = text
    await pilot.press("enter")


def status_text(screen) -> str:
    return str(screen.query_one("#classify-status", Static).render())


async def test_typed_paths_are_classified_with_a_listed_checkpoint(trained, small_shapes_config, make_app, tmp_path):
    folder = tmp_path / "to-classify"
    folder.mkdir()
    for path in sorted((trained / "val" / "circle").iterdir())[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_text("not an image")
    (folder / "notes.txt").write_text("ignored: not an image file name")

    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")
        screen = app.screen
        assert isinstance(screen, ClassifyScreen)
        options = screen.query_one("#checkpoints", OptionList)
        await wait_until(pilot, lambda: options.option_count == 2)  # best.pt and last.pt
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.classifier is not None)
        assert "5 classes" in status_text(screen)

        await pilot.press("o")
        await answer(pilot, str(folder))
        await wait_until(pilot, lambda: len(screen.results) == 3)

        images = screen.query_one("#image-table", DataTable)
        assert [images.get_row_at(i)[0] for i in range(3)] == ["0.png", "1.png", "broken.png"]
        first = screen.results[0]
        assert images.get_row_at(0)[1] == first.label in screen.classifier.classes
        top = screen.query_one("#top-k", DataTable)
        assert top.row_count == 5 and top.get_row_at(0)[0] == first.label
        await wait_until(pilot, lambda: screen.query_one("#preview", ImageView).image is not None)

        await pilot.press("n", "n")
        assert images.get_row_at(2)[1] == "unreadable"
        assert "broken.png" in status_text(screen)
        await pilot.press("p")
        assert top.get_row_at(0)[0] == screen.results[1].label


async def test_files_that_are_not_checkpoints_or_images_show_errors(small_shapes_config, make_app, tmp_path):
    text_file = tmp_path / "notes.pt"
    text_file.write_text("hello")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")
        screen = app.screen
        await pilot.press("c")
        await answer(pilot, str(text_file))
        status = screen.query_one("#classify-status", Static)
        await wait_until(pilot, lambda: status.has_class("error"))
        assert "notes.pt" in status_text(screen) and "checkpoint" in status_text(screen)
        assert screen.classifier is None

        await pilot.press("o")
        await answer(pilot, str(tmp_path / "nowhere"))
        await wait_until(pilot, lambda: "no such file or folder" in status_text(screen))
