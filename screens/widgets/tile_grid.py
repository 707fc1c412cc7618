"""Many small grey-scale images (a layer's feature maps) as a grid of half-block tiles."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image
from textual.strip import Strip

from screens.widgets.image_view import ImageView

GAP = 1  # cells between tiles
BACKGROUND = (24, 24, 24)


class TileGrid(ImageView):
    """Shows 2-D uint8 arrays as equal tiles, laid out to make them as large as the widget allows."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._tiles: list[np.ndarray] = []

    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    def set_tiles(self, tiles: Sequence[np.ndarray]) -> None:
        """Show these 2-D uint8 arrays (each H x W, all the same shape), or nothing for an empty list."""
        self._tiles = [np.asarray(tile, dtype=np.uint8) for tile in tiles]
        self.set_image(None)

    def _draw(self, width: int, height: int) -> list[Strip]:
        self._image = mosaic(self._tiles, width, height * 2) if self._tiles and width > 0 and height > 0 else None
        return super()._draw(width, height)


def grid_shape(count: int, tile_aspect: float, width: int, height: int) -> tuple[int, int, int, int]:
    """(columns, rows, tile width, tile height) in pixels that fit `count` tiles of aspect w/h into width x height.

    A pixel is half a cell high, so the gap between rows is 2 pixels and between columns 1.
    """
    best = (1, count, 0, 0)
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        tile_w = (width - (columns - 1) * GAP) // columns
        tile_h = (height - (rows - 1) * 2 * GAP) // rows
        if tile_w < 1 or tile_h < 1:
            continue
        tile_w, tile_h = min(tile_w, round(tile_h * tile_aspect)), min(tile_h, round(tile_w / tile_aspect))
        if tile_w >= 1 and tile_h >= 1 and tile_w * tile_h > best[2] * best[3]:
            best = (columns, rows, tile_w, tile_h)
    return best


def mosaic(tiles: list[np.ndarray], width: int, height: int) -> Image.Image:
    """The tiles scaled and placed on one RGB image of width x height pixels."""
    tile_h0, tile_w0 = tiles[0].shape
    columns, _, tile_w, tile_h = grid_shape(len(tiles), tile_w0 / tile_h0, width, height)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    if tile_w < 1 or tile_h < 1:
        return canvas
    for index, tile in enumerate(tiles):
        image = Image.fromarray(tile, "L")
        resample = Image.Resampling.NEAREST if tile_w >= tile_w0 else Image.Resampling.BILINEAR
        image = image.resize((tile_w, tile_h), resample).convert("RGB")
        row, column = divmod(index, columns)
        canvas.paste(image, (column * (tile_w + GAP), row * (tile_h + 2 * GAP)))
    return canvas
