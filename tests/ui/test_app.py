"""The app shell at 80x24 and 200x50: every screen fits with its keys in the footer, the modes come from one list,
fields are left with esc and enter, the config is saved short and never over an example, quitting asks."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Markdown

from core.config import load_config
from core.prepare.workspace import DEMO_CONFIG, Workspace
from screens.dialogs import AskText, Confirm, ConfirmQuit
from screens.help import HelpScreen
from screens.train import TrainScreen
from screens.widgets.navbar import NavBar
from screen_text import assert_footer_fits, screen_lines
from waiting import wait_until
from workbench.app import SCREENS, WorkbenchApp

pytestmark = pytest.mark.timeout(120)
SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@SIZES
async def test_every_screen_fits_and_shows_its_keys_in_the_footer(make_app, small_shapes_config, size) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        for key, mode in enumerate(app.MODES, start=1):
            await pilot.press(str(key))
            await settle(pilot)
            assert app.screen.MODE == mode
            lines = screen_lines(app)
            assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
            await assert_footer_fits(pilot)
            assert "? Help" in lines[-1], mode


async def test_the_model_screens_fix_undo_and_save_keys_are_in_the_footer_at_80(make_app, small_shapes_config):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        footer = screen_lines(app)[-1]
        assert "f Fix" in footer and "u Undo" in footer and "^s Save" in footer


async def test_the_bar_the_keys_and_the_help_come_from_one_list_of_modes(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    assert list(app.MODES) == [entry.mode for entry in SCREENS] == [entry.load().MODE for entry in SCREENS]
    async with app.run_test(size=(80, 24)) as pilot:
        bar = [item.id.removeprefix("nav-") for item in app.screen.query_one(NavBar).query(".nav-item")]
        assert bar == list(app.MODES)
        for key, mode in reversed(list(enumerate(app.MODES, start=1))):
            await pilot.press(str(key))
            await pilot.pause()
            assert app.current_mode == mode
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.query_one(Markdown).source
        assert all(f"## {mode.title()}" in help_text for mode in app.MODES)
        assert "**5** Runs" in help_text and "| m | Mark: Mark the run for comparing" in help_text


async def test_esc_leaves_a_field_and_enter_commits_it(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, TrainScreen)
        field = app.screen.query(Input).first()
        field.focus()
        await pilot.pause()
        assert app.screen.focused is field
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen.focused, Input)
        field.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen.focused, Input)
        await pilot.press("2")  # the keys work again at once
        await pilot.pause()
        assert app.current_mode == "model"


class FakeRun:
    is_running = True
    run_dir = None

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.parametrize("answer", ["escape", "l", "s"])
async def test_quit_while_a_run_is_going_offers_leave_stop_and_cancel(make_app, small_shapes_config, answer) -> None:
    app = make_app(small_shapes_config)
    run = FakeRun()
    async with app.run_test(size=(80, 24)) as pilot:
        app.followed.run = run
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit), deadline=10)
        text = "\n".join(screen_lines(app))
        assert "Leave it running (l)" in text and "Stop it and quit (s)" in text and "Cancel (esc)" in text
        await pilot.press(answer)
        await pilot.pause()
        if answer == "escape":
            assert app.is_running and not isinstance(app.screen, ConfirmQuit) and not run.stopped
    assert run.stopped == (answer == "s")


@pytest.mark.parametrize("training", [False, True], ids=["idle", "training"])
async def test_quit_with_unsaved_changes_offers_to_save_first(make_app, small_shapes_config, tmp_path,
                                                               training) -> None:
    app = make_app(small_shapes_config)
    run = FakeRun()
    async with app.run_test(size=(80, 24)) as pilot:
        if training:
            app.followed.run = run
        app.workspace.update("train", epochs=3)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit), deadline=10)
        text = "\n".join(screen_lines(app))
        assert ("Save, leave it running (w)" if training else "Save and quit (w)") in text and "Cancel (esc)" in text
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, AskText), deadline=10)
        app.screen.query_one(Input).value = str(tmp_path / "saved.yaml")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.is_running, deadline=10)
    assert load_config(tmp_path / "saved.yaml").train.epochs == 3 and not run.stopped


async def test_an_example_config_is_saved_under_a_new_name_with_only_its_changes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = DEMO_CONFIG.read_text()
    app = WorkbenchApp(Workspace.open(DEMO_CONFIG), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.workspace.update("train", epochs=3)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AskText) and "never overwritten" in app.screen.prompt
        answer = app.screen.query_one(Input)
        assert Path(answer.value) == tmp_path / "shapes-demo.yaml"
        answer.value = str(DEMO_CONFIG)  # the example itself: refused
        await pilot.press("enter")
        await pilot.pause()
        assert DEMO_CONFIG.read_text() == example and app.workspace.dirty
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # the suggested name
        await pilot.pause()
        assert not app.workspace.dirty and app.workspace.path == tmp_path / "shapes-demo.yaml"
    saved = (tmp_path / "shapes-demo.yaml").read_text()
    assert load_config(tmp_path / "shapes-demo.yaml") == app.workspace.config
    assert "epochs: 3" in saved and "batch_size" not in saved and "val_split" not in saved
    assert len(saved.splitlines()) <= len(example.splitlines())
    assert DEMO_CONFIG.read_text() == example


async def test_saving_over_another_file_asks_and_keeps_its_comments(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "mine.yaml"
    own.write_text("# my experiment\nname: mine\nmodel:\n  layers: [flatten, {linear: {out_features: auto}}]\n"
                   "train:\n  epochs: 2  # quick\n")
    other = tmp_path / "other.yaml"
    other.write_text("name: other\n")
    app = WorkbenchApp(Workspace.open(own), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.workspace.update("train", epochs=7)
        await pilot.press("ctrl+s")
        await pilot.pause()
        answer = app.screen.query_one(Input)
        assert answer.value == str(own)
        answer.value = str(other)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), deadline=10)
        await pilot.press("escape")  # not over the other file
        await pilot.pause()
        assert other.read_text() == "name: other\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # its own file, at once
        await pilot.pause()
        assert not app.workspace.dirty
    assert own.read_text() == ("# my experiment\nname: mine\nmodel:\n"
                               "  layers: [flatten, {linear: {out_features: auto}}]\n"
                               "train:\n  epochs: 7  # quick\n")  # only the changed value rewritten
