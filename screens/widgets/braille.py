"""The charts' drawing core: a plot area of braille cells, 2 x 4 dots each, with lines between dots.

Each cell remembers which series drew into it, so a chart can colour it by the series, or tell an
overlap apart.
"""
from __future__ import annotations

BRAILLE = 0x2800  # the empty braille cell; a dot is one bit above it
DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))  # the bit of dot (column, row) within a cell


class BrailleCanvas:
    """`columns` x `rows` cells, drawn on in dots: x in 0..2 * columns - 1, y in 0..4 * rows - 1 (top down)."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.width, self.height = columns * 2, rows * 4  # in dots
        self._bits = [[0] * columns for _ in range(rows)]
        self._owners: list[list[list[int]]] = [[[] for _ in range(columns)] for _ in range(rows)]

    def dot(self, x: int, y: int, owner: int) -> None:
        row, column = y // 4, x // 2
        self._bits[row][column] |= DOTS[x % 2][y % 4]
        if owner not in self._owners[row][column]:
            self._owners[row][column].append(owner)

    def line(self, x0: int, y0: int, x1: int, y1: int, owner: int) -> None:
        """The dots of a straight line between two dots, both ends included (Bresenham)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, owner)
            if (x0, y0) == (x1, y1):
                return
            double = 2 * error
            if double >= dy:
                error += dy
                x0 += sx
            if double <= dx:
                error += dx
                y0 += sy

    def char(self, row: int, column: int) -> str:
        """The cell's braille character; a space where nothing was drawn."""
        bits = self._bits[row][column]
        return chr(BRAILLE + bits) if bits else " "

    def owners(self, row: int, column: int) -> list[int]:
        """The series that drew into the cell, in the order they first did."""
        return self._owners[row][column]
