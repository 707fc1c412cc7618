"""The Model screen's memory line at 80x24: the estimate at the config's batch and precision, and what fits."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import parse_config
from core.model.build import check_for
from core.prepare.memory_estimate import estimate_memory
from core.prepare.preflight import input_shape
from core.prepare.workspace import Workspace
from core.columns import bytes_text
from test_model_screen import column, open_model, summary
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
name: ui
data: {source: shapes, path: %s, image_size: [8, 8], batch_size: 16}
model:
  layers: [flatten, {linear: {out_features: 16}}, relu, {linear: {out_features: auto}}]
train: {device: cpu, precision: bf16}
"""


async def test_the_summary_says_how_much_a_step_needs_and_up_to_which_batch_it_fits(tmp_path: Path) -> None:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_model(app, pilot)
        text = " ".join(summary(screen).split())
        config = parse_config(path.read_text(), [])
        estimate = estimate_memory(config, check_for(config.model, input_shape(config), 5))
        assert "memory at batch 16, bf16:" in text and "fits on cpu up to batch" in text
        assert f"total {estimate.total / 1024:.3g} KB" in text


async def test_each_layer_shows_its_activations_for_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 24)) as pilot:  # wide enough for the memory column
        screen = await open_model(app, pilot)
        config = parse_config(path.read_text(), [])
        estimate = estimate_memory(config, check_for(config.model, input_shape(config), 5))
        # flatten is a view of its input: no memory of its own; the rest at 16 images in bf16
        assert column(screen, "memory") == [bytes_text(size) for _, size in estimate.layers[1:]]
        assert column(screen, "memory")[0] == "0 B" and column(screen, "memory")[1] == bytes_text(16 * 16 * 2)
