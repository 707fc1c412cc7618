"""An image drawn with coloured half-blocks: works in any terminal, over SSH, with no graphics protocol."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.strip import Strip
from textual.widget import Widget
from textual.worker import get_current_worker

from core.data.images import UnreadableImage, open_image

HALF_BLOCK = "▀"  # foreground = upper pixel, background = lower pixel
PLACEHOLDER = "no image"
PLAIN = Style()  # every segment needs a style: Textual's filters (NO_COLOR's monochrome) read it


class ImageView(Widget):
    """Shows a PIL image scaled to fit (keeping its aspect ratio) and centred; None shows "no image"."""

    DEFAULT_CSS = """
    ImageView { width: 1fr; height: 1fr; }
    """

    def __init__(self, image: Image.Image | None = None, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._image = image
        self._rows: list[Strip] = []
        self._rows_size: tuple[int, int] | None = None  # the (width, height) _rows were drawn for

    @property
    def image(self) -> Image.Image | None:
        return self._image

    def set_image(self, image: Image.Image | None) -> None:
        """Show another image (or none)."""
        self._image = image
        self._rows_size = None
        self.refresh()

    @work(thread=True, exclusive=True, group="image-file")
    def load(self, path: Path) -> None:
        """Show the image file at `path`, read in a thread ("no image" if it cannot be read)."""
        try:
            image = open_image(path)
        except UnreadableImage:
            image = None
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.set_image, image)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if (width, height) != self._rows_size:
            self._rows = self._draw(width, height)
            self._rows_size = (width, height)
        return self._rows[y] if 0 <= y < len(self._rows) else Strip.blank(width, PLAIN)

    def _draw(self, width: int, height: int) -> list[Strip]:
        if width < 1 or height < 1:
            return []
        if self._image is None or self._image.width == 0 or self._image.height == 0:
            return self._placeholder(width, height)
        pixels = _fit(self._image, width, height * 2)
        cells = [_cell_row(pixels, y) for y in range(0, pixels.height, 2)]
        left = (width - pixels.width) // 2
        top = (height - len(cells)) // 2
        rows = [Strip.blank(width, PLAIN)] * top
        rows += [Strip([Segment(" " * left, PLAIN), *cells_row, Segment(" " * (width - left - pixels.width), PLAIN)],
                       width).simplify() for cells_row in cells]
        return rows + [Strip.blank(width, PLAIN)] * (height - len(rows))

    def _placeholder(self, width: int, height: int) -> list[Strip]:
        text = PLACEHOLDER[:width]
        left = (width - len(text)) // 2
        line = Strip([Segment(" " * left, PLAIN), Segment(text, Style(dim=True)),
                      Segment(" " * (width - left - len(text)), PLAIN)], width)
        return [line if y == height // 2 else Strip.blank(width, PLAIN) for y in range(height)]


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """The image as RGB, scaled to fit width x height pixels keeping its aspect ratio."""
    scale = min(width / image.width, height / image.height)
    size = (max(1, min(width, round(image.width * scale))), max(1, min(height, round(image.height * scale))))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if rgb.size == size:
        return rgb
    if scale >= 1:  # enlarging: keep pixels crisp
        return rgb.resize(size, Image.Resampling.NEAREST)
    return rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _cell_row(pixels: Image.Image, y: int) -> list[Segment]:
    """One row of half-block cells from the RGB pixel rows y (top) and y + 1 (bottom, if any)."""
    lower = _pixel_row(pixels, y + 1) if y + 1 < pixels.height else None
    return [Segment(HALF_BLOCK, Style(color=Color.from_rgb(*upper),
                                      bgcolor=Color.from_rgb(*lower[x]) if lower else None))
            for x, upper in enumerate(_pixel_row(pixels, y))]


def _pixel_row(rgb: Image.Image, y: int) -> list[tuple[int, int, int]]:
    """The (red, green, blue) pixels of row y of an RGB image."""
    data = rgb.crop((0, y, rgb.width, y + 1)).tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3]))
