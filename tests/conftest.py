"""Shared test fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture
def write_images():
    """write_images(folder, count, size=(w, h), colour=..., suffix=".png") -> the written paths."""

    def write(folder: Path, count: int, size: tuple[int, int] = (12, 10), colour=(200, 40, 40),
              suffix: str = ".png") -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"img{i:03d}{suffix}" for i in range(count)]
        for path in paths:
            Image.new("RGB", size, colour).save(path)
        return paths

    return write
