"""Every data setting from the Data screen: the form generated from the schema and the source table, at 80x24."""
from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList, Select, Static
from waiting import wait_until

from screens.data_settings import EditData, other_keys
from screens.param_dialogs import SchemaForm

pytestmark = pytest.mark.timeout(90)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def field(form: SchemaForm, *path: str) -> Input | Select:
    return next(control for control, (key, _) in form.fields.items() if key == path)


async def open_form(pilot) -> EditData:
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(pilot.app.screen, EditData)
    return pilot.app.screen


async def test_the_form_holds_every_data_key_and_saves_them(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        keys = {path for path, _ in form.fields.values()}
        assert {("data", key) for key in other_keys()} | {("data", "path"), ("data", "augment", "horizontal_flip"),
                                                         ("data", "shapes", "size")} <= keys
        assert ("data", "batch_size") not in keys and ("data", "separator") not in keys
        field(form, "data", "image_size").value = "[24, 24]"
        field(form, "data", "normalize").value = "{mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}"
        field(form, "data", "val_split").value = "0.3"
        field(form, "data", "augment", "horizontal_flip").value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        data = app.workspace.config.data
        assert data.image_size == (24, 24) and data.val_split == 0.3 and data.augment.horizontal_flip
        assert data.normalize.mean == [0.5] * 3 and data.normalize.std == [0.25] * 3
        assert "model input 24x24, augmented" in str(app.screen.query_one("#after-caption", Static).content)


async def test_a_bad_value_is_named_and_the_form_stays(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        field(form, "data", "val_split").value = "1.5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and "val_split" in str(form.query_one("#form-error", Static).content)
        assert app.workspace.config.data.val_split == 0.2


async def test_a_source_that_needs_more_than_a_path_is_set_up_in_the_form(make_app, small_shapes_config, tmp_path,
                                                                          write_images) -> None:
    root = tmp_path / "named"
    for label in ("cat", "dog"):
        for number in range(3):
            write_images(root, 1)[0].rename(root / f"{label}_{number}.png")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        options.highlighted = next(index for index in range(options.option_count)
                                   if options.get_option_at_index(index).id == "filename")
        await pilot.press("enter")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, EditData) and form.source == "filename"
        field(form, "data", "path").value = str(root)
        field(form, "data", "separator").value = "_"
        await pilot.press("ctrl+s")
        await settle(pilot)
        data = app.workspace.config.data
        assert (data.source, data.path, data.separator) == ("filename", str(root), "_")
        await wait_until(pilot, lambda: app.screen.view is not None and app.screen.view.classes == ["cat", "dog"])


async def test_several_sources_combined(make_app, small_shapes_config, tmp_path, write_images) -> None:
    for name in ("a", "b"):
        write_images(tmp_path / name / "cat", 3)
        write_images(tmp_path / name / "dog", 3)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        options.highlighted = options.option_count - 1  # combined
        await pilot.press("enter")
        await pilot.pause()
        form = app.screen
        field(form, "data", "sources").value = (f"[{{source: folder, path: {tmp_path / 'a'}}}, "
                                                f"{{source: folder, path: {tmp_path / 'b'}}}]")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.workspace.config.data.source == "combined" and len(app.workspace.config.data.sources) == 2
        await wait_until(pilot, lambda: app.screen.view is not None and len(app.screen.view) == 12)


async def test_the_computed_mean_and_std_become_the_normalisation(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")  # nothing computed yet
        assert app.workspace.config.data.normalize == "auto"
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("a")
        normalize = app.workspace.config.data.normalize
        assert len(normalize.mean) == 3 and all(0 < value < 1 for value in normalize.mean + normalize.std)
        assert app.workspace.dirty
