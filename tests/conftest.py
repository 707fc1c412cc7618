"""Shared test fixtures."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PIL import Image


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs a worker per core) each worker and every process it starts trains on
    one torch thread: two workers of two threads each on two cores would spin against each other."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)


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
