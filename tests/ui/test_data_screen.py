"""The Data screen at 80x24: classes, browsing, sources, health, mean/std, preview."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import DirectoryTree, Input, OptionList, Static
from waiting import wait_until

from core.data.inspect import DatasetView
from screens.data import DataScreen
from screens.data_pickers import FolderPicker, SourcePicker
from screens.dialogs import AskText
from screens.widgets.image_view import ImageView

pytestmark = pytest.mark.timeout(60)

SHAPES = ["circle", "cross", "square", "star", "triangle"]


async def settle(pilot) -> None:
    """Let workers finish and the results they post back (which may start more workers) land."""
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def shown(screen: DataScreen, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return getattr(content, "plain", str(content))


def class_rows(screen: DataScreen) -> list[str]:
    classes = screen.query_one("#classes", OptionList)
    return [classes.get_option_at_index(i).prompt.plain for i in range(classes.option_count)]


@pytest.fixture
def image_folder(tmp_path: Path, write_images) -> Path:
    """cat (4 images) and dog (3 images and a file that is not an image but is named .png)."""
    root = tmp_path / "pets"
    write_images(root / "cat", 4, colour=(10, 200, 10))
    write_images(root / "dog", 3, size=(20, 10))
    (root / "dog" / "broken.png").write_bytes(b"this is not a png")
    return root


async def open_typed_folder(pilot, path: Path | str) -> None:
    await pilot.press("o")
    await pilot.pause()
    assert isinstance(pilot.app.screen, AskText)
    answer = pilot.app.screen.query_one("#answer")
    answer.value = str(path)
    await pilot.press("enter")
    await settle(pilot)


async def test_class_list_shows_every_class_with_counts(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DataScreen)
        rows = class_rows(screen)
        assert rows[0].split() == ["all", "30/10"]
        assert [row.split()[0] for row in rows[1:]] == SHAPES
        assert all(row.split()[-1] == "6/2" and "█" in row for row in rows[1:])
        assert "30 train, 10 val, 5 classes" in shown(screen, "#source")


async def test_next_and_previous_change_the_sample(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        first = shown(screen, "#sample-info")
        assert first.startswith("1/40 in all") and "train/circle/" in first and "16x16 RGB" in first
        assert screen.query_one("#image", ImageView).image is not None
        await pilot.press("right")
        await settle(pilot)
        second = shown(screen, "#sample-info")
        assert second.startswith("2/40 in all") and second != first
        await pilot.press("left")
        await settle(pilot)
        assert shown(screen, "#sample-info") == first
        await pilot.press("left")  # wraps to the last sample: a validation image
        await settle(pilot)
        assert shown(screen, "#sample-info").startswith("40/40 in all") and "(val)" in shown(screen, "#sample-info")


async def test_browsing_one_class_stays_in_it(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("right_square_bracket", "right_square_bracket")  # all -> circle -> cross
        await settle(pilot)
        files = set()
        for step in range(9):
            info = shown(screen, "#sample-info")
            assert info.startswith(f"{step % 8 + 1}/8 in cross  cross"), info
            files.add(info.splitlines()[1])
            await pilot.press("right")
            await settle(pilot)
        assert len(files) == 8 and all("/cross/" in file for file in files)
        await pilot.press("up", "up")  # the class list has the focus: back to "all"
        await settle(pilot)
        assert shown(screen, "#sample-info").startswith("1/40 in all")


async def test_key_presses_are_answered_while_an_image_loads(make_app, small_shapes_config, monkeypatch) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        release = threading.Event()
        real_sample = DatasetView.sample
        monkeypatch.setattr(DatasetView, "sample", lambda view, index: (release.wait(10), real_sample(view, index))[1])
        await pilot.press("right")
        await pilot.pause()
        await pilot.press("right")
        await pilot.pause()
        assert shown(app.screen, "#sample-info").startswith("3/40 in all  loading")
        release.set()
        await settle(pilot)
        assert shown(app.screen, "#sample-info").startswith("3/40 in all  circle")


async def test_folder_with_an_unreadable_image_shows_it_in_the_health_report(make_app, small_shapes_config,
                                                                             image_folder) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_typed_folder(pilot, image_folder)
        screen = app.screen
        data = app.workspace.config.data
        assert (data.source, data.path, app.workspace.dirty) == ("folder", str(image_folder), True)
        assert "*" in app.screen.config_title()
        assert [row.split()[0] for row in class_rows(screen)] == ["all", "cat", "dog"]
        await pilot.press("h")
        await settle(pilot)
        report = shown(screen, "#health")
        assert "dog/broken.png: not an image" in report
        assert "unreadable or skipped: 1" in report
        assert "20x10 ×" in report and "12x10 ×" in report and "RGB" in report


async def test_missing_folder_shows_the_error_and_the_app_stays_alive(make_app, small_shapes_config,
                                                                       tmp_path) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_typed_folder(pilot, tmp_path / "nowhere")
        screen = app.screen
        assert "does not exist" in shown(screen, "#status")
        assert screen.query_one("#status").has_class("error")
        assert class_rows(screen) == []
        await pilot.press("right", "h", "m", "p")  # nothing to act on: no crash
        await settle(pilot)
        await pilot.press("d")  # back to the demo
        await settle(pilot)
        assert app.is_running and app.workspace.config.data.source == "shapes"
        assert len(class_rows(screen)) == 6 and not screen.query_one("#status").display


async def test_a_config_error_is_shown_not_raised(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.use_source("folder", None)
        await settle(pilot)
        assert "path is required" in shown(app.screen, "#status")
        assert app.workspace.config.data.source == "shapes"


async def test_source_picker_returns_to_the_configs_source(make_app, small_shapes_config, image_folder) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_typed_folder(pilot, image_folder)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SourcePicker)
        listed = [option.id for option in app.screen.query_one(OptionList).options]
        assert listed[:4] == ["config", "shapes", "folder", "csv"] and "cifar10" in listed
        assert listed[-1] == "combined" and not any(option.disabled for option in app.screen.query_one(OptionList).options)
        await pilot.press("enter")  # the first entry: the config's own source
        await settle(pilot)
        assert app.workspace.config.data.source == "shapes"
        assert [row.split()[0] for row in class_rows(app.screen)][1:] == SHAPES


async def test_folder_tree_picker_opens_the_chosen_folder(make_app, small_shapes_config, image_folder,
                                                          monkeypatch) -> None:
    monkeypatch.chdir(image_folder.parent)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        tree = app.screen.query_one(DirectoryTree)
        await wait_until(pilot, lambda: bool(tree.root.children))  # the tree lists its folder in a worker
        await pilot.press("down", "enter")  # the first folder below the root: pets
        await settle(pilot)
        assert app.workspace.config.data.path == str(image_folder)
        assert [row.split()[0] for row in class_rows(app.screen)] == ["all", "cat", "dog"]


async def test_mean_std_appears(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        stats = shown(app.screen, "#stats")
        mean_line = next(line for line in stats.splitlines() if line.startswith("mean: ["))
        assert len(mean_line.split(",")) == 3 and "std:  [" in stats


async def test_preview_toggles(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        after_box = app.screen.query_one("#after-box")
        assert not after_box.display
        await pilot.press("p")
        await settle(pilot)
        assert after_box.display
        after = app.screen.query_one("#after", ImageView).image
        assert after is not None and after.size == (16, 16)
        await pilot.press("p")
        await settle(pilot)
        assert not after_box.display


async def test_works_with_no_color(make_app, small_shapes_config, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("right", "p")
        await settle(pilot)
        text = app.export_screenshot()
        assert "circle" in text and "▀" in text


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
async def test_preview_from_the_health_tab_shows_the_sample_with_it(make_app, small_shapes_config, size) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        tabs = app.screen.query_one("#tabs")
        await pilot.press("h")
        await settle(pilot)
        assert tabs.active == "health-tab"
        await pilot.press("p")
        await settle(pilot)
        assert tabs.active == "sample-tab" and app.screen.query_one("#after-box").display
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("p")  # the preview was on: it stays on, and shows
        await settle(pilot)
        assert tabs.active == "sample-tab" and app.screen.query_one("#after-box").display
        await pilot.press("p")
        await settle(pilot)
        assert not app.screen.query_one("#after-box").display


async def test_a_long_path_is_shortened_from_the_left_and_skipped_folders_are_named(
        make_app, small_shapes_config, tmp_path, write_images) -> None:
    root = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / "pets"
    for folder in ("cat", "dog", ".thumbnails", "__MACOSX"):
        write_images(root / folder, 2)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_typed_folder(pilot, root)
        path_line = shown(app.screen, "#source").splitlines()[1]
        assert path_line.startswith("…") and path_line.endswith("name-/pets") and len(path_line) <= 32
        await pilot.press("h")
        await settle(pilot)
        report = shown(app.screen, "#health")
        assert "folders skipped (never classes): 2" in report
        assert ".thumbnails/: hidden folder" in report and "__MACOSX/: system folder" in report


async def test_a_new_data_source_names_the_run_after_it(make_app, small_shapes_config, image_folder) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_typed_folder(pilot, image_folder)
        assert app.workspace.config.name == "pets"
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # the config's own source: its own name again
        await settle(pilot)
        assert app.workspace.config.name == "ui-test"


async def test_folder_picker_leaves_its_start_folder(make_app, small_shapes_config, image_folder, monkeypatch) -> None:
    monkeypatch.chdir(image_folder / "cat")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FolderPicker)
        tree = picker.query_one(DirectoryTree)
        await pilot.press("~")
        assert tree.path == Path.home()
        await pilot.press("/")
        assert tree.path == Path("/")
        await pilot.press("g")
        where = picker.query_one("#where", Input)
        where.value = str(image_folder / "no-such-folder")
        await pilot.press("enter")
        assert tree.path == Path("/") and app.focused is where  # still typing
        where.value = str(image_folder / "dog")
        await pilot.press("enter")
        assert tree.path == image_folder / "dog" and app.focused is tree
        await pilot.press("backspace")  # up a level: the folder of class folders
        assert tree.path == image_folder and where.value == str(image_folder)
        await pilot.press("backspace")
        await wait_until(pilot, lambda: bool(tree.root.children))
        await pilot.press("down", "enter")  # the first folder below the parent: pets
        await wait_until(pilot, lambda: app.workspace.config.data.path == str(image_folder))


async def test_the_health_report_follows_the_source(make_app, small_shapes_config, tmp_path, write_images) -> None:
    root = tmp_path / "bugs"
    write_images(root / "train" / "ants", 3)
    write_images(root / "train" / "bees", 3)
    write_images(root / "val" / "ants", 2)  # no val/bees
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        assert shown(app.screen, "#health").startswith("health 40 images, 5 classes")
        await open_typed_folder(pilot, root)  # from the Health tab: the report is made again for this data
        report = shown(app.screen, "#health")
        assert report.startswith("health 8 images, 2 classes")
        assert "no validation images: bees (val_accuracy leaves it out" in report
        await pilot.press("right")  # the sample tab
        await open_typed_folder(pilot, tmp_path / "shapes")
        assert "health" not in shown(app.screen, "#health")  # no report of the previous source
