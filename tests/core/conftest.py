"""A tiny generated shapes run that trains in about a second, shared by the engine's tests."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from core.config import RunConfig, parse_config
from core.train.events import Event
from core.runs.recorder import create_run
from core.runs.rundir import RunDir
from core.train.engine import fit

TINY = """\
name: tiny
seed: 3
data:
  source: shapes
  path: {data}
  image_size: [16, 16]
  batch_size: 32
  shapes: {{train_per_class: 24, val_per_class: 8, size: 16}}
model:
  layers:
    - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
    - relu
    - maxpool2d: {{kernel_size: 2}}
    - flatten
    - linear: {{out_features: auto}}
train:
  epochs: 2
  device: cpu
  optimizer: {{name: adam, lr: 0.01}}
"""


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data") / "shapes"


@pytest.fixture
def tiny(shapes_root: Path) -> Callable[..., RunConfig]:
    """tiny(*overrides) -> the tiny config with `--set` style overrides applied."""
    return lambda *overrides: parse_config(TINY.format(data=shapes_root), list(overrides))


@pytest.fixture
def train() -> Callable[..., tuple[RunDir, list[Event]]]:
    """train(config, runs, should_stop=...) -> (the new run directory under runs, every event)."""

    def run_training(config: RunConfig, runs: Path, should_stop=lambda: False) -> tuple[RunDir, list[Event]]:
        events: list[Event] = []
        run = create_run(runs, config.name, config)
        fit(config, run, emit=events.append, should_stop=should_stop)
        return run, events

    return run_training
