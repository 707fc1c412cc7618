"""The Classify screen at 80x24 with a tiny trained checkpoint: typed paths, class folders, sorting, CSV,
a pickled model that needs trust, feature maps."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from core.model.checkpoints import load_checkpoint, save_checkpoint
from screens.dialogs import Confirm
from screens.feature_maps import FeatureMapsScreen
from screens.widgets.confusion import ConfusionMatrix
from screens.widgets.image_view import HALF_BLOCK, ImageView
from screens.widgets.tile_grid import TileGrid
from screen_text import assert_footer_fits, screen_lines
from tiny_model import answer, open_classify, tiny_model_fixture  # noqa: F401  (the tiny_model fixture)
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def status_text(screen) -> str:
    return str(screen.query_one("#classify-status", Static).render())


def column(table: DataTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_column(key)]


async def test_typed_paths_are_classified_with_a_listed_checkpoint(tiny_model, tmp_path):
    folder = tmp_path / "to-classify"
    folder.mkdir()
    for path in sorted((tiny_model.shapes / "val" / "circle").iterdir())[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_text("not an image")
    (folder / "notes.txt").write_text("ignored: not an image file name")

    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot)
        assert "5 classes" in status_text(screen)
        await pilot.press("o")
        await answer(pilot, str(folder))
        await wait_until(pilot, lambda: len(screen.results) == 3)

        images = screen.query_one("#image-table", DataTable)
        assert column(images, "file") == ["0.png", "1.png", "broken.png"]
        first = screen.results[0]
        assert column(images, "class")[0] == first.label in screen.classifier.classes
        top = screen.query_one("#top-k", DataTable)
        assert top.row_count == 5 and str(top.get_row_at(0)[0]) == first.label
        await wait_until(pilot, lambda: screen.query_one("#preview", ImageView).image is not None)
        assert screen.evaluation is None  # no class folders: no accuracy

        await pilot.press("n", "n")
        assert column(images, "class")[2] == "unreadable"
        assert "not an image" in status_text(screen) or "broken" in status_text(screen)
        await pilot.press("p")
        assert str(top.get_row_at(0)[0]) == screen.results[1].label
        await assert_footer_fits(pilot)


async def test_class_folders_are_scored_sorted_and_exported(tiny_model, tmp_path):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot, tiny_model.shapes / "val")
        await wait_until(pilot, lambda: screen.evaluation is not None)

        images = screen.query_one("#image-table", DataTable)
        assert images.row_count == 10 and len(screen.results) == 10
        evaluation = screen.evaluation
        assert evaluation.count == 10 and f"accuracy {evaluation.accuracy:.1%}" in status_text(screen)
        assert screen.query_one("#classify-matrix", ConfusionMatrix).row_count == 5
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert any("circle" in line and "cir" in line and "tri" in line for line in lines)  # a matrix row
        await assert_footer_fits(pilot)
        assert "m Matrix" in screen_lines(app)[-1]

        # every row shows file, class and confidence on screen
        for name, label in zip(column(images, "file"), column(images, "class")):
            assert any(name in line and label in line and "%" in line for line in lines), name

        await pilot.press("s")  # by class
        assert column(images, "class") == sorted(column(images, "class"))
        await pilot.press("s")  # by confidence, highest first
        ordered = [screen.results[int(images.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)].top[0][1]
                   for row in range(images.row_count)]
        assert ordered == sorted(ordered, reverse=True)
        await pilot.click("#image-table", offset=(2, 0))  # the "file" header
        assert column(images, "file") == sorted(column(images, "file"))
        await pilot.click("#image-table", offset=(2, 0))
        assert column(images, "file") == sorted(column(images, "file"), reverse=True)

        target = tmp_path / "out" / "predictions.csv"
        await pilot.press("x")
        await answer(pilot, str(target))
        await wait_until(pilot, lambda: target.exists())
        rows = list(csv.reader(target.open()))
        assert rows[0] == ["path", "predicted", "confidence"]
        assert [Path(row[0]).relative_to(tiny_model.shapes / "val").as_posix() for row in rows[1:]] == \
            column(images, "file")
        assert [row[1] for row in rows[1:]] == column(images, "class")
        assert all(0 < float(row[2]) <= 1 for row in rows[1:])
        await wait_until(pilot, lambda: "wrote 10 prediction(s)" in status_text(screen))

        await pilot.press("m")  # the image and its top classes instead of the matrix
        assert screen.query_one("#top-k", DataTable).row_count == 5


async def test_long_paths_are_cut_from_the_left(tiny_model, tmp_path):
    deep = tmp_path / "a-rather-long-folder-name" / "and-another-one-below-it"
    deep.mkdir(parents=True)
    source = sorted((tiny_model.shapes / "val" / "star").iterdir())[0]
    (deep / "a-long-file-name-for-a-star.png").write_bytes(source.read_bytes())
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot, tmp_path)
        await wait_until(pilot, lambda: len(screen.results) == 1)
        name = column(screen.query_one("#image-table", DataTable), "file")[0]
        assert name.startswith("…") and name.endswith("star.png")
        row = next(line for line in screen_lines(app) if name in line)
        assert screen.results[0].label in row and "%" in row
        assert all(len(line) <= 80 for line in screen_lines(app))


async def test_a_pickled_model_loads_only_after_confirming(tiny_model, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2)), path)
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")
        screen = app.screen
        await pilot.press("c")
        await answer(pilot, str(path))
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "whole pickled model" in "\n".join(screen_lines(app))
        await pilot.press("enter")  # the focused button is Cancel
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.classifier is None and "not loaded" in status_text(screen)

        await pilot.press("c")
        await answer(pilot, str(path))
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await answer(pilot, "cat, dog")
        await answer(pilot, "16,16")
        await wait_until(pilot, lambda: screen.classifier is not None)
        assert screen.classifier.classes == ["cat", "dog"] and screen.checkpoint == path


USER_NET = """\
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, num_classes))

    def forward(self, x):
        return self.head(x)
"""


async def test_a_model_of_user_code_loads_only_after_confirming(tiny_model, tmp_path, monkeypatch):
    (tmp_path / "wb_test_user_net.py").write_text(USER_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    checkpoint = load_checkpoint(tiny_model.run / "checkpoints" / "best.pt")
    checkpoint["model"] = {"module": "wb_test_user_net:Net", "module_args": {}, "input_shape": [3, 16, 16]}
    checkpoint["state_dict"] = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 5)).state_dict()
    checkpoint["state_dict"] = {f"head.{key}": value for key, value in checkpoint["state_dict"].items()}
    path = tmp_path / "user.pt"
    save_checkpoint(path, checkpoint)
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")
        screen = app.screen
        for key in ("escape", "y"):
            await pilot.press("c")
            await answer(pilot, str(path))
            await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
            assert "your own code (wb_test_user_net:Net)" in "\n".join(screen_lines(app))
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is screen)
            if key == "escape":
                assert screen.classifier is None and "not loaded" in status_text(screen)
        await wait_until(pilot, lambda: screen.classifier is not None)
        assert screen.checkpoint == path and len(screen.classifier.classes) == 5


async def test_feature_maps_of_the_selected_image(tiny_model):
    app = tiny_model.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_classify(app, pilot, tiny_model.shapes / "val" / "square")
        await wait_until(pilot, lambda: "classified 2" in status_text(screen))
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, FeatureMapsScreen))
        maps = app.screen
        await wait_until(pilot, lambda: maps.layer_maps)
        assert [layer.name for layer in maps.layer_maps] == ["Conv2d", "ReLU"]
        assert maps.query_one(TileGrid).tile_count == 4
        await pilot.pause()
        lines = screen_lines(app)
        assert sum(line.count(HALF_BLOCK) for line in lines) > 200
        assert "layer 1/2" in "\n".join(lines)
        await assert_footer_fits(pilot)
        await pilot.press("right")
        assert maps.current == 1 and "layer 2/2" in "\n".join(screen_lines(app))
        await pilot.press("escape")
        assert app.screen is screen


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
        assert "notes.pt" in status_text(screen)
        assert screen.classifier is None

        await pilot.press("o")
        await answer(pilot, str(tmp_path / "nowhere"))
        await wait_until(pilot, lambda: "no such file or folder" in status_text(screen))
