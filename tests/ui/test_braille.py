"""The charts' drawing core: dots into braille cells, lines between them, who drew each cell."""
from __future__ import annotations

from screens.widgets.braille import BrailleCanvas


def test_a_dot_sets_its_bit_in_its_cell() -> None:
    canvas = BrailleCanvas(columns=2, rows=1)
    canvas.dot(0, 0, owner=0)
    canvas.dot(3, 3, owner=0)
    assert [canvas.char(0, column) for column in range(2)] == ["⠁", "⢀"]


def test_a_line_joins_its_ends_without_gaps() -> None:
    canvas = BrailleCanvas(columns=1, rows=2)
    canvas.line(0, 0, 1, 7, owner=0)
    # the left column of dots down the first cell, the right column down the second
    assert [canvas.char(row, 0) for row in range(2)] == ["⡇", "⢸"]


def test_each_cell_knows_the_series_that_drew_into_it() -> None:
    canvas = BrailleCanvas(columns=3, rows=1)
    canvas.line(0, 0, 5, 0, owner=0)
    canvas.line(2, 3, 5, 3, owner=1)
    assert [canvas.owners(0, column) for column in range(3)] == [[0], [0, 1], [0, 1]]
    assert canvas.char(0, 0) == "⠉" and canvas.owners(0, 0) == [0]
    empty = BrailleCanvas(columns=1, rows=1)
    assert empty.char(0, 0) == " " and empty.owners(0, 0) == []
