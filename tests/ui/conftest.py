"""Shared fixtures of the TUI tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import parse_config
from core.prepare.workspace import Workspace
from workbench.app import WorkbenchApp

SMALL_SHAPES = """\
name: ui-test
seed: 0
data:
  source: shapes
  path: {path}
  image_size: [16, 16]
  shapes: {{train_per_class: 6, val_per_class: 2, size: 16}}
model:
  layers: [flatten, {{linear: {{out_features: auto}}}}]
train: {{epochs: 1}}
"""


@pytest.fixture
def small_shapes_config(tmp_path: Path):
    """A config on a tiny generated shapes set (5 classes, 6 train + 2 val images each, 16x16)."""
    return parse_config(SMALL_SHAPES.format(path=tmp_path / "shapes"))


@pytest.fixture
def make_app(tmp_path: Path):
    """make_app(config) -> a WorkbenchApp on that config, its runs under tmp_path/runs."""

    def make(config) -> WorkbenchApp:
        return WorkbenchApp(Workspace(config), runs_dir=tmp_path / "runs")

    return make
