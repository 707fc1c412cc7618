"""`workbench check` prints the training-memory estimate: activations per layer and whether a step fits."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_cli import workbench

pytestmark = pytest.mark.e2e

CONFIG = """\
name: memory
data: {{source: shapes, path: {data}, image_size: [16, 16], batch_size: 8}}
model:
  layers: [{{conv2d: {{out_channels: 8, kernel_size: 3, padding: same}}}}, relu, flatten, {{linear: {{out_features: auto}}}}]
train: {{device: cpu, precision: {precision}}}
"""


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_check_prints_activations_per_layer_and_the_largest_batch(tmp_path: Path, precision: str) -> None:
    config = tmp_path / "memory.yaml"
    config.write_text(CONFIG.format(data=tmp_path / "shapes", precision=precision))
    result = workbench("check", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    conv = 8 * 16 * 16 * 8 * (4 if precision == "fp32" else 2)  # batch x channels x height x width x bytes
    assert "activations at batch 8: input " in result.stdout and f"0 conv2d {conv // 1024} KB" in result.stdout
    assert "2 flatten" not in result.stdout  # a view: no memory of its own
    summary = re.search(rf"memory at batch 8, {precision}: .* optimizer state, .* activations; total .*; "
                        r"fits on cpu up to batch ([\d,]+) \(.* available\)", result.stdout)
    assert summary and int(summary[1].replace(",", "")) > 8, result.stdout
