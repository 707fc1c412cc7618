"""`workbench explain` as a real process on a freshly trained run: PNGs, JSON lines, clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.test_classify_cli import CONFIG
from tests.e2e.test_cli import workbench

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a run directory, the folder of its data) from `workbench --run`."""
    folder = tmp_path_factory.mktemp("explain-cli")
    (folder / "cli.yaml").write_text(CONFIG.replace("classify-cli", "explain-cli"))
    result = workbench("--run", "cli.yaml", "--runs-dir", "runs", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / result.stdout.splitlines()[-1].removeprefix("run directory: "), folder / "shapes"


def test_explain_writes_an_overlay_per_image_into_the_run(trained, tmp_path: Path) -> None:
    run, data = trained
    images = sorted((data / "val" / "star").glob("*.png"))[:2]
    result = workbench("explain", str(run), *map(str, images), "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pngs = [run / "explanations" / f"{image.stem}-explained.png" for image in images]
    assert [line.split("-> ")[1] for line in result.stdout.splitlines()] == list(map(str, pngs))
    for png in pngs:
        with Image.open(png) as picture:
            assert picture.size == (256, 256) and picture.mode == "RGB"
    assert "grad-cam on layer 0" in result.stderr


def test_explain_json_has_the_heatmap_at_the_input_size(trained, tmp_path: Path) -> None:
    run, data = trained
    image = next((data / "val" / "circle").glob("*.png"))
    result = workbench("explain", str(run), str(image), "--json", "-o", "out", "--method", "occlusion", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert {"path", "class", "probability", "layer", "heatmap"} <= line.keys() and line["path"] == str(image)
    assert len(line["heatmap"]) == 16 and all(len(row) == 16 and all(0 <= v <= 1 for v in row) for row in line["heatmap"])
    assert (tmp_path / "out" / f"{image.stem}-explained.png").is_file()


def test_a_bad_layer_exits_2_with_the_layers_to_choose(trained, tmp_path: Path) -> None:
    run, data = trained
    image = next((data / "val" / "circle").glob("*.png"))
    result = workbench("explain", str(run), str(image), "--layer", "features.9", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "workbench: the model has no layer named 'features.9'; convolution layers: 0"
