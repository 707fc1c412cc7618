"""`workbench classify`, `evaluate`, `export` and `features` as real processes on a freshly trained run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.use.inference import load_model
from tests.e2e.test_cli import ROOT, workbench
from workbench.cli import main

pytestmark = pytest.mark.e2e

CONFIG = """\
name: classify-cli
data:
  source: shapes
  path: shapes
  image_size: [16, 16]
  shapes: {train_per_class: 24, val_per_class: 8, size: 16}
model:
  layers: [{conv2d: {out_channels: 6, kernel_size: 3}}, relu, {maxpool2d: {kernel_size: 2}}, flatten,
           {linear: {out_features: auto}}]
train: {epochs: 1, device: cpu}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a run directory, the folder of its data) from `workbench --run`."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "cli.yaml").write_text(CONFIG)
    result = workbench("--run", "cli.yaml", "--runs-dir", "runs", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / result.stdout.splitlines()[-1].removeprefix("run directory: "), folder / "shapes"


def test_classify_prints_json_lines_and_exits_1_for_unreadable_files(trained, tmp_path: Path) -> None:
    run, data = trained
    (tmp_path / "notes.png").write_text("not an image")
    images = data / "val" / "circle"
    result = workbench("classify", str(run), str(images), str(tmp_path / "notes.png"), "--json", "--top-k", "2",
                       "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [*map(str, sorted(images.glob("*.png"))), str(tmp_path / "notes.png")]
    assert all(len(line["top"]) == 2 and 0 <= line["top"][0]["probability"] <= 1 for line in lines[:-1])
    assert lines[-1] == {"path": str(tmp_path / "notes.png"), "error": "not an image"}
    assert f"cannot read {tmp_path / 'notes.png'}: not an image" in result.stderr


def test_classify_table_and_csv_exit_0_and_a_missing_path_exits_2(trained, tmp_path: Path) -> None:
    run, data = trained
    image = next((data / "val" / "star").glob("*.png"))
    table = workbench("classify", str(run), str(image), cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == ["file", "class", "prob", "next"]
    assert table.stdout.splitlines()[1].startswith(str(image)) and "\x1b" not in table.stdout
    missing = workbench("classify", str(run), str(image), "nowhere.jpg", "--csv", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file or folder: nowhere.jpg" in missing.stderr
    rows = workbench("classify", str(run / "checkpoints" / "best.pt"), str(image), "--csv", "--top-k", "1", cwd=tmp_path)
    assert rows.returncode == 0 and rows.stdout.splitlines()[0] == "path,class_1,probability_1,error"


def test_a_file_that_is_not_a_model_exits_2_with_one_plain_line(trained, tmp_path: Path) -> None:
    run, data = trained
    (tmp_path / "model.pt").write_text("hello")
    result = workbench("classify", str(tmp_path / "model.pt"), str(data / "val"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"workbench: {tmp_path / 'model.pt'}: not a model file workbench can read (a text file)")
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


def test_evaluate_prints_the_report_as_json_and_writes_it_into_the_run(trained, tmp_path: Path) -> None:
    run, _ = trained
    result = workbench("evaluate", str(run), "--json", "--top-losses", "3", cwd=run.parent.parent)
    assert result.returncode == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert evaluation == json.loads((run / "evaluation.json").read_text())
    assert evaluation["classes"] == ["circle", "cross", "square", "star", "triangle"]
    assert sum(row["support"] for row in evaluation["per_class"]) == 40 and len(evaluation["top_losses"]) == 3
    assert (run / "confusion.csv").read_text().splitlines()[0] == "true \\ predicted,circle,cross,square,star,triangle"
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 2
    text = workbench("evaluate", str(run), str(run.parent.parent / "shapes" / "val"), cwd=run.parent.parent)
    assert text.returncode == 0 and text.stdout.startswith("evaluated 40 images: ")
    assert "confusion matrix (rows: true class, columns: predicted class, by number)" in text.stdout
    averaged = workbench("evaluate", str(run), "--json", "--top-losses", "3", "--tta", "flip_shift",
                         cwd=run.parent.parent)
    assert averaged.returncode == 0 and json.loads(averaged.stdout)["top_losses"] != evaluation["top_losses"]


def test_an_export_classifies_like_its_checkpoint_and_features_go_to_tensorboard(trained, tmp_path: Path) -> None:
    run, data = trained
    image = str(next((data / "val" / "cross").glob("*.png")))
    exported = workbench("export", str(run), "--format", "safetensors", "-o", "model.safetensors", cwd=tmp_path)
    assert exported.returncode == 0 and exported.stdout.startswith("wrote model.safetensors (safetensors;")
    from_export = workbench("classify", "model.safetensors", image, "--json", cwd=tmp_path)
    [prediction] = load_model(run).classify([image])
    assert from_export.returncode == 0
    assert json.loads(from_export.stdout)["top"] == [{"class": name, "probability": p} for name, p in prediction.top]
    features = workbench("features", "model.safetensors", image, "--max-channels", "4", cwd=tmp_path)
    assert features.returncode == 0, features.stderr
    assert [line.split()[:3] for line in features.stdout.splitlines()[1:4]] == [
        ["0", "Conv2d", "6x14x14"], ["1", "ReLU", "6x14x14"], ["2", "MaxPool2d", "6x7x7"]]
    assert "wrote 3 layer images to model-tensorboard" in features.stdout
    assert list((tmp_path / "model-tensorboard").glob("events.out.tfevents.*"))


def test_help_lists_the_model_commands_and_their_help_loads_no_torch() -> None:
    code = ("import sys\nfrom workbench.cli import main\nfor command in (['--help'], ['classify', '--help'], "
            "['evaluate', '--help'], ['export', '--help'], ['features', '--help']):\n    try:\n        main(command)\n"
            "    except SystemExit:\n        pass\nprint('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False"
    for command in ("classify MODEL PATH", "evaluate MODEL [DATA]", "features MODEL IMAGE", "export MODEL -o FILE"):
        assert f"workbench {command}" in out
    assert "--trust-pickle" in out and "--format {safetensors,torchscript,onnx}" in out


def test_a_pipe_or_a_device_to_classify_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "images.png"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    for path in (fifo, Path("/dev/zero")):
        assert main(["classify", str(tmp_path / "model.pt"), str(path)]) == 2
        assert f"not a file or folder (a pipe or a device), not read: {path}" in capsys.readouterr().err
