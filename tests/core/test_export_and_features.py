"""Exports that load back with the same logits, and the feature maps of one image."""
from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from core.use.exporting import ExportError, MissingExtra, check_batch, export_model
from core.use.features import feature_maps
from core.use.inference import Classifier, load_model
from core.runs.rundir import RunDir
from tests.core.model_files import train_tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, shapes_root: Path) -> RunDir:
    return train_tiny(tmp_path_factory.mktemp("runs"), shapes_root)


@pytest.fixture(scope="module")
def classifier(run: RunDir) -> Classifier:
    return load_model(run.path)


def test_safetensors_and_torchscript_exports_give_the_same_logits_in_a_new_process(classifier, tmp_path: Path) -> None:
    exported = [export_model(classifier, "safetensors", tmp_path / "model.safetensors"),
                export_model(classifier, "torchscript", tmp_path / "model.ts")]
    assert [e.max_difference for e in exported] == [0.0, pytest.approx(0.0, abs=1e-5)]
    batch = check_batch(classifier)
    torch.save(batch, tmp_path / "batch.pt")
    code = ("import sys, torch, json\nfrom core.use.inference import load_model\n"
            "batch = torch.load(sys.argv[1], weights_only=True)\nc = load_model(sys.argv[2])\n"
            "torch.save(c.logits(batch), sys.argv[3])\nprint(json.dumps([c.classes, c.preprocess]))\n"
            "script = torch.jit.load(sys.argv[4])\n"
            "extra = {'workbench.json': ''}\ntorch.jit.load(sys.argv[4], _extra_files=extra)\n"
            "torch.save(script(batch.float() / 255), sys.argv[5])\nprint(extra['workbench.json'].decode())\n")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(tmp_path / "batch.pt"),
                             str(tmp_path / "model.safetensors"), str(tmp_path / "st.pt"), str(tmp_path / "model.ts"),
                             str(tmp_path / "ts.pt")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = classifier.logits(batch)
    assert torch.equal(torch.load(tmp_path / "st.pt", weights_only=True), expected)
    assert torch.allclose(torch.load(tmp_path / "ts.pt", weights_only=True), expected, atol=1e-5)
    loaded, extra = result.stdout.splitlines()
    assert json.loads(loaded) == [classifier.classes, classifier.preprocess]
    assert json.loads(extra)["classes"] == classifier.classes and json.loads(extra)["model"] == classifier.spec


def test_every_format_is_written_with_the_umasks_permissions(classifier, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        written = [export_model(classifier, "safetensors", tmp_path / "model.safetensors").path,
                   export_model(classifier, "torchscript", tmp_path / "model.ts").path]
    finally:
        os.umask(old)
    assert [stat.S_IMODE(path.stat().st_mode) for path in written] == [0o644, 0o644]


@pytest.mark.skipif(not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")),
                    reason="the optional onnx extra is not installed (pip install -e '.[onnx]')")
def test_onnx_export_gives_the_same_logits(classifier, tmp_path: Path) -> None:
    import onnx

    exported = export_model(classifier, "onnx", tmp_path / "model.onnx")
    assert exported.max_difference < 1e-4
    props = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert props["workbench.classes"] == classifier.classes


def test_onnx_without_its_extra_says_how_to_install_it(classifier, tmp_path: Path, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("onnx") else real(name, *a))
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[onnx\]'"):
        export_model(classifier, "onnx", tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_a_pickled_model_has_no_architecture_for_safetensors(classifier, tmp_path: Path) -> None:
    pickled = Classifier.from_module(classifier.model, classifier.classes, classifier.preprocess)
    with pytest.raises(ExportError, match="whole-model pickle.*torchscript or onnx"):
        export_model(pickled, "safetensors", tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


def test_feature_maps_are_each_image_layers_channels_scaled_to_uint8(classifier, shapes_root: Path) -> None:
    image = next((shapes_root / "val" / "star").glob("*.png"))
    layers = feature_maps(classifier, image, max_channels=4)
    assert [(layer.index, layer.name) for layer in layers] == [(0, "Conv2d"), (1, "ReLU"), (2, "MaxPool2d")]
    assert [tuple(layer.maps.shape) for layer in layers] == [(4, 16, 16), (4, 16, 16), (4, 8, 8)]
    assert all(layer.maps.dtype == torch.uint8 and layer.channels == 8 for layer in layers)
    conv = layers[0].maps.flatten(1)
    assert conv.amax(1).tolist() == [255] * 4 and conv.amin(1).tolist() == [0] * 4


def test_feature_maps_of_a_torchvision_model_name_its_children(tmp_path: Path) -> None:
    from core.config import ModelConfig
    from core.model.build import build_for

    model, _ = build_for(ModelConfig(torchvision={"name": "resnet18"}), (3, 32, 32), 2)
    preprocess = {"image_size": [32, 32], "channels": 3, "mean": [0.5], "std": [0.5]}
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (40, 30), (10, 200, 30)).save(image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = feature_maps(Classifier.from_module(model, ["a", "b"], preprocess), image)
    assert [layer.name for layer in layers][:4] == ["conv1 (Conv2d)", "bn1 (BatchNorm2d)", "relu (ReLU)",
                                                   "maxpool (MaxPool2d)"]
    assert layers[-1].name == "avgpool (AdaptiveAvgPool2d)" and layers[-1].channels == 512
