"""The Model screen at 80x24: the layer table, adding, editing, moving, deleting, fixing, saving."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from core.config import load_config
from core.prepare.workspace import Workspace
from screens.model import ModelScreen
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
name: ui
data: {source: shapes, path: %s, image_size: [8, 8]}
model:
  layers: [flatten, {linear: {out_features: 16}}, relu, {linear: {out_features: auto}}]
"""


@pytest.fixture
def app(tmp_path: Path) -> WorkbenchApp:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    return WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")


async def open_model(app: WorkbenchApp, pilot) -> ModelScreen:
    await pilot.press("2")
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, ModelScreen)
    return app.screen


def column(screen: ModelScreen, key: str) -> list[str]:
    """A column's cells by key: index, layer, settings, input, output, params, mult_adds."""
    table = screen.query_one("#layers", DataTable)
    return [str(table.get_cell(str(row), key)) for row in range(table.row_count)]


def summary(screen: ModelScreen) -> str:
    return str(screen.query_one("#summary", Static).render())


async def test_table_shows_layers_with_shapes(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        assert column(screen, "layer") == ["flatten", "linear", "relu", "linear"]
        assert column(screen, "output") == ["192", "16", "16", "5"]
        assert "shapes fit" in summary(screen)


async def test_add_layer_from_the_registry(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("down", "a")
        await pilot.press(*"dropo", "enter")
        await pilot.pause()
        assert column(screen, "layer") == ["flatten", "linear", "dropout", "relu", "linear"]
        assert app.workspace.config.model.layers[2] == {"dropout": {"p": 0.5}}
        assert app.workspace.dirty


async def test_edit_breaks_shapes_then_fix_and_undo(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("down", "e")
        await pilot.pause()
        field = app.screen.query_one("#param-in_features", Input)
        field.value = "100"
        await pilot.press("enter")
        await pilot.pause()
        assert "✗" in column(screen, "index")[1]
        assert "in_features is 100: set in_features: 192 or auto" in summary(screen)
        await pilot.press("f")
        assert "shapes fit" in summary(screen)
        assert app.workspace.config.model.layers[1]["linear"]["in_features"] == 192
        await pilot.press("u")
        assert "in_features is 100" in summary(screen)


async def test_invalid_param_is_explained_in_the_form(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await open_model(app, pilot)
        await pilot.press("down", "e")
        await pilot.pause()
        app.screen.query_one("#param-out_features", Input).value = "-4"
        await pilot.press("enter")
        await pilot.pause()
        assert "out_features must be a positive integer" in str(app.screen.query_one("#form-error", Static).render())
        await pilot.press("escape")


async def test_move_duplicate_delete(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("down", "down", "shift+up")
        assert column(screen, "layer") == ["flatten", "relu", "linear", "linear"]
        await pilot.press("c")
        assert column(screen, "layer") == ["flatten", "relu", "relu", "linear", "linear"]
        await pilot.press("d", "d")
        assert column(screen, "layer") == ["flatten", "relu", "linear"]


async def test_removing_flatten_marks_the_failing_layer(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("d")
        assert column(screen, "index")[0].startswith("✗")
        assert "add flatten before it" in summary(screen)


async def test_template_then_save_and_reload(app: WorkbenchApp, tmp_path: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("t", *"mlp", "enter")
        await pilot.pause()
        assert column(screen, "layer")[:2] == ["flatten", "linear"] and len(column(screen, "layer")) == 6
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "saved.yaml")
        await pilot.press("enter")
        await pilot.pause()
        assert not app.workspace.dirty
    saved = load_config(tmp_path / "saved.yaml")
    assert saved.model.layers == app.workspace.config.model.layers
    assert saved.model.layers[1] == {"linear": {"in_features": "auto", "out_features": 256, "bias": True,
                                                "zero_init": False}}


async def test_quit_asks_when_unsaved(app: WorkbenchApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await open_model(app, pilot)
        await pilot.press("c", "q")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmQuit"
        await pilot.press("escape")
        assert isinstance(app.screen, ModelScreen)


async def test_torchvision_model_is_shown_read_only_until_a_template(tmp_path: Path) -> None:
    path = tmp_path / "tv.yaml"
    path.write_text(CONFIG.replace(
        "  layers: [flatten, {linear: {out_features: 16}}, relu, {linear: {out_features: auto}}]",
        "  torchvision: {name: resnet18}") % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        assert "torchvision model" in summary(screen) and column(screen, "layer")[0] == "conv1 (Conv2d)"
        await pilot.press("d")
        assert app.workspace.config.model.kind == "torchvision"
        await pilot.press("t", *"mlp", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.workspace.config.model.kind == "layers"
        assert column(screen, "layer")[0] == "flatten"


async def test_stack_saved_alone_and_loaded_back(app: WorkbenchApp, tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        await pilot.press("w")
        await pilot.pause()
        app.screen.query_one(Input).value = str(stack)
        await pilot.press("enter")
        await pilot.pause()
        assert "layers:" in stack.read_text()
        await pilot.press("d", "d")
        assert column(screen, "layer") == ["relu", "linear"]
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(stack)
        await pilot.press("enter")
        await pilot.pause()
        assert column(screen, "layer") == ["flatten", "linear", "relu", "linear"]
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "missing.yaml")
        await pilot.press("enter")
        await pilot.pause()
        assert column(screen, "layer") == ["flatten", "linear", "relu", "linear"]


async def test_a_torchvision_model_shows_its_frozen_and_trainable_parameters(tmp_path: Path) -> None:
    path = tmp_path / "tv.yaml"
    path.write_text(CONFIG.replace(
        "  layers: [flatten, {linear: {out_features: 16}}, relu, {linear: {out_features: auto}}]",
        "  torchvision: {name: resnet18, freeze_backbone: true}") % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        assert "(2,565 trainable, 11,176,512 frozen)" in summary(screen)  # the new head for 5 classes: 512 x 5 + 5
        params = column(screen, "params")
        assert params[0] == "9,408 frozen" and params[-1] == "2,565"
