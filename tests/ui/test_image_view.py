"""ImageView: half-block rendering, aspect ratio, the placeholder."""
from __future__ import annotations

import pytest
from PIL import Image
from rich.color import Color
from textual.app import App, ComposeResult

from screens.widgets.image_view import HALF_BLOCK, ImageView

pytestmark = pytest.mark.timeout(60)

RED, BLUE = (255, 0, 0), (0, 0, 255)


class ViewApp(App):
    CSS = "ImageView { width: 20; height: 10; }"

    def __init__(self, image: Image.Image | None) -> None:
        super().__init__()
        self.image = image

    def compose(self) -> ComposeResult:
        yield ImageView(self.image)


def checker() -> Image.Image:
    """2x2: red, blue on top; blue, red below."""
    image = Image.new("RGB", (2, 2))
    image.putdata([RED, BLUE, BLUE, RED])
    return image


def cells(view: ImageView) -> list[list[tuple[str, tuple | None, tuple | None]]]:
    """Each row's cells as (text, foreground rgb, background rgb)."""

    def rgb(color: Color | None) -> tuple | None:
        return tuple(color.get_truecolor()) if color is not None else None

    rows = []
    for y in range(view.size.height):
        row = []
        for segment in view.render_line(y):
            style = segment.style
            row += [(char, rgb(style.color if style else None), rgb(style.bgcolor if style else None))
                    for char in segment.text]
        rows.append(row)
    return rows


async def test_half_blocks_carry_upper_and_lower_pixels() -> None:
    app = ViewApp(checker())
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(ImageView)
        view.styles.width, view.styles.height = 2, 1
        await pilot.pause()
        assert tuple(view.size) == (2, 1)
        assert cells(view) == [[(HALF_BLOCK, RED, BLUE), (HALF_BLOCK, BLUE, RED)]]


async def test_scales_up_centred_keeping_aspect() -> None:
    app = ViewApp(checker())
    async with app.run_test(size=(40, 20)):
        grid = cells(app.query_one(ImageView))  # 20x10 cells = 20x20 pixels: the 2x2 image fills it
        assert len(grid) == 10 and all(len(row) == 20 for row in grid)
        assert grid[0][0] == (HALF_BLOCK, RED, RED)
        assert grid[0][19] == (HALF_BLOCK, BLUE, BLUE)
        assert grid[9][0] == (HALF_BLOCK, BLUE, BLUE)
        assert grid[9][19] == (HALF_BLOCK, RED, RED)


async def test_wide_image_is_letterboxed_after_resize() -> None:
    app = ViewApp(Image.new("RGB", (40, 10), RED))  # 4:1
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(ImageView)
        grid = cells(view)  # 20 wide -> 20x5 pixels -> 3 rows (the last half filled), centred
        drawn = [y for y, row in enumerate(grid) if row[0][0] == HALF_BLOCK]
        assert drawn == [3, 4, 5]
        assert grid[5][0] == (HALF_BLOCK, RED, None)
        view.styles.width, view.styles.height = 40, 20
        await pilot.pause()
        grid = cells(view)  # 40x40 pixels -> 40x10 pixels -> 5 rows, centred
        drawn = [y for y, row in enumerate(grid) if row[0][0] == HALF_BLOCK]
        assert drawn == [7, 8, 9, 10, 11]
        assert all(len(row) == 40 for row in grid)


async def test_none_shows_placeholder_and_set_image_replaces_it() -> None:
    app = ViewApp(None)
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(ImageView)
        text = "".join(char for row in cells(view) for char, _, _ in row)
        assert "no image" in text and HALF_BLOCK not in text
        view.set_image(checker())
        await pilot.pause()
        assert cells(view)[0][0] == (HALF_BLOCK, RED, RED)
        view.set_image(None)
        await pilot.pause()
        assert "no image" in "".join(char for row in cells(view) for char, _, _ in row)


async def test_greyscale_and_tiny_sizes_do_not_crash() -> None:
    app = ViewApp(Image.new("L", (300, 7), 128))
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(ImageView)
        grid = cells(view)  # 20x20 pixels -> 20x1: one row, half filled, in the middle
        assert grid[4][0] == (HALF_BLOCK, (128, 128, 128), None)
        view.styles.width, view.styles.height = 1, 1
        await pilot.pause()
        assert len(cells(view)) == 1


async def test_no_color_terminal_renders(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ViewApp(Image.new("RGB", (40, 10), RED))
    async with app.run_test(size=(40, 20)):
        assert HALF_BLOCK in app.export_screenshot()
