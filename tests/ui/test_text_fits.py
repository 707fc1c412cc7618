"""At 80x24, what the screens and dialogs say is there whole: wrapped where it is long, never cut."""
from __future__ import annotations

from pathlib import Path

import pytest
from screen_text import whole, widget_rows, widget_text
from textual.widgets import OptionList, Static
from waiting import wait_until

from core.data.inspect import ClassCount, DatasetView
from core.data.sources import SOURCES
from core.model.registry import LAYERS, REQUIRED, parse_layer
from screens.data_pickers import FolderPicker, SourcePicker
from screens.dialogs import AskText, Confirm, ConfirmQuit, as_yaml
from screens.layer_dialogs import EditLayer
from screens.param_dialogs import EditParams, about_text

pytestmark = pytest.mark.timeout(90)

LONG_RUN = "20260101-120000-cifar10-resnet18-finetune"
REFUSED = ("cannot load /data/models/a-rather-long-folder-name/checkpoints/best.pt: the file is a pickled "
           "whole model that names globals outside torch's weights-only allowlist (mymodule.Net, "
           "collections.OrderedDict); load it only if you trust where it came from (y in the dialog, "
           "--trust-pickle on the command line)")


def shows(app, widget, text: str) -> bool:
    return whole(text) in widget_text(app, widget)


async def test_the_data_header_and_class_rows_of_a_large_set(make_app, small_shapes_config, monkeypatch) -> None:
    monkeypatch.setattr(DatasetView, "counts", lambda self: [ClassCount(f"class{i}", 6000, 1000) for i in range(10)])
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        source = app.screen.query_one("#source", Static)
        await wait_until(pilot, lambda: "classes" in str(source.content))
        await pilot.pause()
        assert shows(app, source, "60000 train, 10000 val, 10 classes")
        rows = widget_rows(app, app.screen.query_one("#classes", OptionList))
        assert any("all" in row and "60000/10000" in row for row in rows)
        assert sum("6000/1000" in row and "class" in row for row in rows) >= 5


@pytest.mark.parametrize("kind", ["linear", "conv2d", "batchnorm2d", "whitening"])
async def test_the_layer_dialog_title_and_every_help(make_app, small_shapes_config, kind) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        layer = LAYERS[kind]
        values = {param.name: 3 for param in layer.params if param.default is REQUIRED}
        await app.push_screen(EditLayer(parse_layer({kind: values}, ())))
        await pilot.pause()
        dialog = app.screen
        assert shows(app, dialog.query_one(".panel-title"), f"{kind}: {layer.description}")
        for param, help_widget in zip(layer.params, dialog.query(".param-help").results(Static)):
            default = "required" if param.default is REQUIRED else f"default {as_yaml(param.default)}"
            dialog.query_one("#params").scroll_to_widget(help_widget, animate=False)
            await pilot.pause()
            assert shows(app, help_widget, f"{param.type.expects}; {default}"), param.name


async def test_dialog_titles_and_reasons(make_app, small_shapes_config, tmp_path) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        title = f"Resume {LONG_RUN}: epochs in all (11 of 6 done)"
        await app.push_screen(AskText(title, "12"))
        await pilot.pause()
        assert shows(app, app.screen.query_one(".panel-title"), title)
        app.pop_screen()
        reasons = ["the config has unsaved changes (ctrl+s saves it)",
                   "a training run is going: leave it running (the Runs screen finds it again), "
                   "or stop it (it saves last.pt)"]
        for dialog in (ConfirmQuit(reasons, training=True), Confirm(f"Delete {LONG_RUN}?", reasons, "Delete")):
            await app.push_screen(dialog)
            await pilot.pause()
            text = widget_text(app, app.screen.query_one("#reasons"))
            assert all(whole(reason) in text for reason in reasons), text
            app.pop_screen()
        await app.push_screen(FolderPicker(tmp_path))
        await pilot.pause()
        assert shows(app, app.screen.query_one(".muted"), "g: type a path · esc: cancel")
        app.pop_screen()
        await app.push_screen(SourcePicker({"source": "shapes"}))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        for entry in SOURCES:
            options.highlighted = SOURCES.names.index(entry.name) + 1
            await pilot.pause()
            assert shows(app, options, entry.help), entry.name


async def test_every_training_setting_help(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(EditParams(app.workspace.config.to_plain(), lambda values: None))
        await pilot.pause()
        dialog = app.screen
        description = dialog.query_one("#param-description", Static)
        for control, (path, info) in dialog.fields.items():
            control.focus()
            await pilot.pause()
            assert shows(app, description, f"{'.'.join(path)}: {about_text(info)}"), path


async def test_a_long_classify_message(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")
        app.screen.model_refused(Path("best.pt"), REFUSED)
        await pilot.pause()
        assert shows(app, app.screen.query_one("#classify-status"), REFUSED)
