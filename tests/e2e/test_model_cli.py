"""`workbench check` and `workbench export-code` on model configs, as real processes."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from tests.e2e.test_cli import workbench

pytestmark = pytest.mark.e2e

CONFIG = """\
name: model-cli
data: {{source: shapes, path: {data}, image_size: [16, 16], batch_size: 8}}
model:
{model}
"""
STACK = """\
  layers:
    - conv2d: {out_channels: 8, kernel_size: 3, padding: same}
    - relu
    - residual: {layers: [{conv2d: {out_channels: 8, kernel_size: 3, padding: same}}, relu]}
    - maxpool2d: {kernel_size: 2}
    - flatten
    - linear: {in_features: 100, out_features: auto}
"""


def write(tmp_path: Path, model: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "shapes", model=model))
    return path


def test_check_prints_costs_and_the_fix(tmp_path: Path) -> None:
    result = workbench("check", str(write(tmp_path, STACK)), cwd=tmp_path)
    assert result.returncode == 2
    assert "mult-adds" in result.stdout and "2.0" in result.stdout and "conv2d" in result.stdout
    assert "linear #5 receives 512 features (8 x 8 x 8) but in_features is 100" in result.stderr
    assert "fix: set model.layers[5].linear.in_features: 512" in result.stderr


def test_check_refuses_a_model_over_budget(tmp_path: Path) -> None:
    model = STACK.replace("in_features: 100", "in_features: auto") + "  budget: {max_parameters: 1000}\n"
    result = workbench("check", str(write(tmp_path, model)), cwd=tmp_path)
    assert result.returncode == 2
    assert "over budget: the model has 3,373 parameters, over model.budget.max_parameters (1,000)" in result.stderr


def test_export_code_matches_the_built_model(tmp_path: Path) -> None:
    config = write(tmp_path, STACK.replace("in_features: 100", "in_features: auto"))
    result = workbench("export-code", str(config), "-o", str(tmp_path / "net.py"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    net = runpy.run_path(str(tmp_path / "net.py"))["Net"]().eval()
    from core.config import load_config
    from core.model.build import build_for

    built, _ = build_for(load_config(config).model, (3, 16, 16), 5)
    net.layers.load_state_dict(built.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(net(x), built.eval()(x))


def test_export_code_to_stdout_for_torchvision(tmp_path: Path) -> None:
    result = workbench("export-code", str(write(tmp_path, "  torchvision: {name: resnet18}\n")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "torchvision.models.resnet18(weights=None)" in result.stdout
    assert "model.fc = nn.Linear(in_features=512, out_features=5, bias=True)" in result.stdout


@pytest.mark.parametrize("width", [80, 60, 44])
def test_check_keeps_the_layer_column_in_a_narrow_terminal(width: int) -> None:
    import io

    from rich.console import Console

    from workbench.commands.check import layer_table

    rows = [("0", "conv2d(in_channels=3, out_channels=16, kernel_size=3, padding=same)", "3 x 32 x 32",
             "16 x 32 x 32", "448", "0", "442K", "64 KB"), ("1", "relu", "16 x 32 x 32", "16 x 32 x 32", "0", "0",
                                                              "0", "64 KB")]
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(layer_table(rows, console))
    text = console.export_text()
    assert "layer" in text and "conv2d(in_channels=3," in text and "relu" in text
    assert max(map(len, text.splitlines())) <= width
    if width == 80:
        assert "output" in text and "16 x 32 x 32" in text


def test_check_piped_prints_each_message_on_one_line(tmp_path: Path) -> None:
    deep = tmp_path / ("a-long-folder-name-" * 5)
    deep.mkdir()
    config = write(deep, STACK.replace("in_features: 100", "in_features: auto"))
    result = workbench("check", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(config)) and lines[0].endswith("batch 8") and len(lines[0]) > 80
    assert lines[-1].startswith("parameters: ") and lines[-1].endswith("output 5")
