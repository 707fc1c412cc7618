"""load_model: every kind of model file, what is refused and why, and nothing in a file runs unasked."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from core.model.checkpoints import CheckpointError, load_checkpoint, needs_trust, save_checkpoint
from core.use.inference import Classifier, FileFailure, Prediction, load_model
from core.model.files import save_stack
from core.model.registry import parse_stack
from tests.core.model_files import (CIFAR_CLASSES, TUTORIAL_NET, TUTORIAL_STACK, evil_files, train_tiny,
                                    write_tutorial_module)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, shapes_root: Path):
    return train_tiny(tmp_path_factory.mktemp("runs"), shapes_root)


@pytest.fixture(scope="module")
def images(shapes_root: Path, run) -> list[Path]:
    return sorted((shapes_root / "val").rglob("*.png"))[::7]


@pytest.fixture
def tutorial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The tutorial's Net from its own module, seeded, and a 32x32 test image."""
    write_tutorial_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import tutorial_net

    torch.manual_seed(0)
    net = tutorial_net.Net().eval()
    image = tmp_path / "frog.png"
    Image.effect_mandelbrot((32, 32), (-2, -1.5, 1, 1.5), 50).convert("RGB").save(image)
    yield net, image
    sys.modules.pop("tutorial_net", None)


def tutorial_logits(net: torch.nn.Module, image: Path) -> torch.Tensor:
    """What the tutorial computes: ToTensor, Normalize((0.5,) * 3, (0.5,) * 3), net."""
    pixels = torch.from_numpy(np.asarray(Image.open(image).convert("RGB")).copy())
    x = (pixels.permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        return net(x[None])


def test_a_run_directory_and_its_checkpoint_load_the_same_model(run, images) -> None:
    from_dir = load_model(run.path)
    from_file = load_model(run.checkpoints_dir / "best.pt")
    assert from_dir.source == run.checkpoints_dir / "best.pt" and from_dir.run_dir == run.path
    assert load_model(run.path.parent).source == from_dir.source  # a runs folder: its newest run
    batch = torch.stack([from_dir.image(p) for p in images])
    assert torch.equal(from_dir.logits(batch), from_file.logits(batch))
    assert needs_trust(run.path) is None


def test_a_checkpoint_loaded_in_a_new_process_gives_identical_logits(run, images, tmp_path: Path) -> None:
    classifier = load_model(run.checkpoints_dir / "best.pt")
    expected = classifier.logits(torch.stack([classifier.image(p) for p in images]))
    code = ("import sys, torch\nfrom pathlib import Path\nfrom core.use.inference import load_model\n"
            "c = load_model(sys.argv[1])\npaths = [Path(p) for p in sys.argv[3:]]\n"
            "torch.save(c.logits(torch.stack([c.image(p) for p in paths])), sys.argv[2])\n")
    out = tmp_path / "logits.pt"
    subprocess.run([sys.executable, "-c", code, str(run.checkpoints_dir / "best.pt"), str(out), *map(str, images)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert torch.equal(torch.load(out, weights_only=True), expected)


def test_classify_files_keeps_order_and_reports_bad_files(run, images, tmp_path: Path) -> None:
    classifier = load_model(run.path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    results = classifier.classify_files([images[0], broken, tmp_path / "gone.jpg", images[1]], top_k=2, batch_size=2)
    assert [type(r) for r in results] == [Prediction, FileFailure, FileFailure, Prediction]
    assert results[1].reason == "truncated image" or "image" in results[1].reason
    assert results[2].reason == "file not found"
    assert len(results[0].top) == 2 and results[0].top == classifier.classify([images[0]], top_k=2)[0].top


@pytest.mark.parametrize("layout", ["zip", "legacy", "bare", "checkpoint"])
def test_a_malicious_pickle_is_refused_by_every_loading_path(tmp_path: Path, layout: str) -> None:
    marker = tmp_path / "PWNED"
    path = evil_files(tmp_path / "files", marker)[layout]
    stack = tmp_path / "stack.yaml"
    stack.write_text(TUTORIAL_STACK)
    loaders = [lambda: load_checkpoint(path), lambda: load_model(path), lambda: Classifier.load(path),
               lambda: load_model(path, stack=stack, classes=CIFAR_CLASSES, image_size=(32, 32)),
               lambda: load_model(path, torchvision="resnet18", classes=["a", "b"]),
               lambda: load_model(path, allow_user_code=True)]
    for load in loaders:
        with pytest.raises(CheckpointError, match="--trust-pickle|not a workbench checkpoint") as refused:
            load()
        assert "run code" in str(refused.value) or "runs code" in str(refused.value)
    assert "io.open" in needs_trust(path)
    assert not marker.exists()


def test_malicious_pickles_never_run_even_when_torch_is_told_to_ignore_weights_only(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    files = evil_files(tmp_path / "files", marker)
    code = ("import sys\nfrom core.model.checkpoints import load_checkpoint, needs_trust\n"
            "from core.use.inference import load_model\nfrom workbench.cli import main\n"
            "for path in sys.argv[1:]:\n"
            "    for load in (load_checkpoint, load_model, needs_trust):\n"
            "        try:\n            load(path)\n        except Exception as exc:\n"
            "            assert 'trust-pickle' in str(exc) or 'checkpoint' in str(exc), exc\n"
            "    assert main(['classify', path, path]) == 2 and main(['evaluate', path]) == 2\n"
            "    assert main(['features', path, path]) == 2\n"
            "    assert main(['export', path, '--format', 'safetensors', '-o', path + '.st']) == 2\n"
            "print('ok')\n")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    result = subprocess.run([sys.executable, "-c", code, *map(str, files.values())], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
    assert not marker.exists()
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


def test_the_tutorials_whole_model_pickle_loads_only_when_trusted(tutorial, tmp_path: Path) -> None:
    net, image = tutorial
    path = tmp_path / "cifar_net.pth"
    torch.save(net, path)  # the tutorial's torch.save(model)
    reason = needs_trust(path)
    assert reason.startswith("a whole pickled model (tutorial_net.Net)") and "runs code" in reason
    with pytest.raises(CheckpointError, match=r"torch.save\(model\).*--trust-pickle"):
        load_model(path, classes=CIFAR_CLASSES, image_size=(32, 32))
    with pytest.raises(CheckpointError, match="--image-size"):
        load_model(path, trust_pickle=True, classes=CIFAR_CLASSES)
    with pytest.raises(CheckpointError, match="gives \\(10,\\) outputs per image, but 3 class names"):
        load_model(path, trust_pickle=True, classes=["a", "b", "c"], image_size=(32, 32))
    classifier = load_model(path, trust_pickle=True, classes=CIFAR_CLASSES, image_size=(32, 32))
    assert classifier.spec is None and classifier.classes == CIFAR_CLASSES
    assert torch.allclose(classifier.logits(classifier.image(image)[None]), tutorial_logits(net, image), atol=1e-6)


def test_a_whole_model_pickled_from_main_says_its_code_is_missing(tmp_path: Path) -> None:
    script = tmp_path / "tutorial.py"
    script.write_text(TUTORIAL_NET + "\ntorch.save(Net(), 'main_net.pth')\n")  # the tutorial as a script
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, timeout=120)
    with pytest.raises(CheckpointError, match="code cannot be found here.*__main__|Net.*PYTHONPATH"):
        load_model(tmp_path / "main_net.pth", trust_pickle=True, classes=CIFAR_CLASSES, image_size=(32, 32))


def test_the_tutorials_state_dict_loads_with_a_layer_stack_file(tutorial, tmp_path: Path) -> None:
    net, image = tutorial
    weights, stack = tmp_path / "cifar_net.pth", tmp_path / "tutorial_stack.yaml"
    torch.save(net.state_dict(), weights)  # the tutorial's PATH = './cifar_net.pth'
    save_stack(parse_stack(yaml.safe_load(TUTORIAL_STACK)["layers"]), stack)
    assert needs_trust(weights) is None
    with pytest.raises(CheckpointError, match="plain state dict.*--stack FILE.*--torchvision NAME"):
        load_model(weights)
    classifier = load_model(weights, stack=stack, classes=CIFAR_CLASSES, image_size=(32, 32))
    assert classifier.channels == 3 and classifier.preprocess["mean"] == [0.5] * 3
    assert torch.allclose(classifier.logits(classifier.image(image)[None]), tutorial_logits(net, image), atol=1e-6)
    assert classifier.classify([image])[0].label in CIFAR_CLASSES


def test_a_state_dict_that_does_not_fit_names_the_keys_and_shapes(tutorial, tmp_path: Path) -> None:
    net, _ = tutorial
    weights, stack = tmp_path / "cifar_net.pth", tmp_path / "wider.yaml"
    torch.save(net.state_dict(), weights)
    stack.write_text(TUTORIAL_STACK.replace("out_channels: 6", "out_channels: 8"))
    with pytest.raises(CheckpointError) as refused:
        load_model(weights, stack=stack, classes=CIFAR_CLASSES, image_size=(32, 32))
    message = str(refused.value)
    assert "the weights do not fit the architecture" in message
    assert "missing from the file: 0.weight [8, 3, 5, 5]" in message
    assert "not in the model: conv1.weight [6, 3, 5, 5]" in message
    stack_keys = [f"{index}.{kind}" for index in (0, 3, 7, 9, 11) for kind in ("weight", "bias")]
    torch.save(dict(zip(stack_keys, net.state_dict().values())), weights)  # the stack's names, the old shapes
    with pytest.raises(CheckpointError, match=r"0.weight is \[6, 3, 5, 5\] in the file, \[8, 3, 5, 5\] in the model"):
        load_model(weights, stack=stack, classes=CIFAR_CLASSES, image_size=(32, 32))


def test_a_torchvision_state_dict_loads_by_name(tmp_path: Path) -> None:
    from core.config import ModelConfig
    from core.model.build import build_for

    torch.manual_seed(0)
    model, _ = build_for(ModelConfig(torchvision={"name": "resnet18"}), (3, 64, 64), 3)
    path = tmp_path / "finetuned.pth"
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, path)  # a common checkpoint layout
    classifier = load_model(path, torchvision="resnet18", classes=["ants", "bees", "wasps"], image_size=(64, 64))
    assert classifier.preprocess["mean"] == [0.485, 0.456, 0.406]
    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    expected = model.eval()(((x.float() / 255) - classifier.mean) / classifier.std)
    assert torch.allclose(classifier.logits(x), expected, atol=1e-5)


def test_a_users_module_checkpoint_needs_allow_user_code(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mynet.py").write_text("import torch.nn as nn\n\nclass Net(nn.Sequential):\n"
                                       "    def __init__(self, num_classes):\n"
                                       "        super().__init__(nn.Flatten(), nn.Linear(3 * 16 * 16, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    checkpoint = load_checkpoint(run.checkpoints_dir / "best.pt")
    import mynet

    checkpoint.update(model={"module": "mynet:Net", "module_args": {}, "input_shape": [3, 16, 16]},
                      state_dict=mynet.Net(5).state_dict())
    save_checkpoint(tmp_path / "user.pt", checkpoint)
    assert needs_trust(tmp_path / "user.pt") is None  # nothing unpickled runs code; rebuilding it would
    with pytest.raises(CheckpointError, match=r"your own code \(mynet:Net\).*--allow-user-code"):
        load_model(tmp_path / "user.pt")
    assert load_model(tmp_path / "user.pt", allow_user_code=True).classes == checkpoint["classes"]
    sys.modules.pop("mynet", None)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["preprocess"].update(image_size=[100_000, 100_000]), "image_size .* within 1..4096"),
    (lambda c: c["preprocess"].update(std=[0, 1, 1]), "std has a value that is not positive"),
    (lambda c: c["model"].update(input_shape=[3, 50_000, 50_000]), "input_shape"),
    (lambda c: c.update(classes=["a"] * 5), "class names repeat"),
    (lambda c: c["state_dict"].update({"4.weight": torch.zeros(5, 7)}), r"4.weight is \[5, 7\] in the file"),
], ids=["image-size", "std", "input-shape", "classes", "weight-shape"])
def test_checkpoint_values_are_bounded_before_anything_is_built(run, tmp_path: Path, change, message) -> None:
    checkpoint = load_checkpoint(run.checkpoints_dir / "best.pt")
    change(checkpoint)
    save_checkpoint(tmp_path / "bad.pt", checkpoint)
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "bad.pt")


def test_small_weights_with_huge_activations_are_refused_before_running(run, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(run.checkpoints_dir / "best.pt")
    layers = [{"conv2d": {"out_channels": 4096, "kernel_size": 1}}, {"adaptiveavgpool2d": {"output_size": 1}},
              "flatten", {"linear": {"out_features": "auto"}}]  # 37,000 weights, 16 GB of activations per image
    checkpoint["model"] = {"layers": layers, "input_shape": [3, 1024, 1024]}
    checkpoint["preprocess"]["image_size"] = [1024, 1024]
    checkpoint["state_dict"] = {"0.weight": torch.zeros(4096, 3, 1, 1), "0.bias": torch.zeros(4096),
                                "3.weight": torch.zeros(5, 4096), "3.bias": torch.zeros(5)}
    save_checkpoint(tmp_path / "wide.pt", checkpoint)
    with pytest.raises(CheckpointError, match=r"wide.pt: one image at its input size \[3, 1024, 1024\] makes 16,\d+ MB "
                                              r"of activations, over the 8,192 MB"):
        load_model(tmp_path / "wide.pt")


def _truncated(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes()[: source.stat().st_size * 2 // 3])


def _corrupt(source: Path, target: Path) -> None:
    data = bytearray(source.read_bytes())
    data[80] ^= 0xFF  # inside the archive's pickle
    target.write_bytes(bytes(data))


def _foreign_zip(source: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("photos/cat.txt", "not a model")


def _torchscript(source: Path, target: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; its files still exist
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(target))


def _safetensors_of_someone_else(source: Path, target: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(target))


@pytest.mark.parametrize("make, message", [
    (lambda s, t: t.write_bytes(b""), "empty \\(0 bytes\\)"),
    (_truncated, "truncated"),
    (_corrupt, "corrupt: .*data.pkl fails its checksum"),
    (lambda s, t: t.write_text("hello, not a model\n"), "a text file"),
    (lambda s, t: Image.new("RGB", (4, 4)).save(t, format="PNG"), "a PNG image"),
    (_foreign_zip, "not one written by torch.save"),
    (_torchscript, "a TorchScript archive"),
    (_safetensors_of_someone_else, "without workbench's metadata"),
    (lambda s, t: t.write_bytes(b"\x80\x04K\x01."), "a Python pickle, not a file written by torch.save"),
    (lambda s, t: torch.save({"lr": 0.1, "epoch": 3}, t), "holds a dict of 'lr', 'epoch', not a model's weights"),
], ids=["empty", "truncated", "corrupt", "text", "png", "zip", "torchscript", "safetensors", "pickle", "dict"])
def test_corrupt_truncated_empty_and_foreign_files_each_say_what_they_are(run, tmp_path: Path, make, message) -> None:
    path = tmp_path / "model.pt"
    make(run.checkpoints_dir / "best.pt", path)
    with pytest.raises(CheckpointError, match=message) as refused:
        load_model(path)
    text = str(refused.value)
    assert text.startswith(str(path)) and "\x1b" not in text and "Traceback" not in text
    assert needs_trust(path) is None  # trusting it would not help


def test_a_truncated_safetensors_export_is_refused(run, tmp_path: Path) -> None:
    from core.use.exporting import export_model

    export_model(load_model(run.path), "safetensors", tmp_path / "model.safetensors")
    _truncated(tmp_path / "model.safetensors", tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError, match="truncated or corrupt safetensors"):
        load_model(tmp_path / "cut.safetensors")


def test_a_checkpoint_refuses_options_meant_for_foreign_files(run) -> None:
    with pytest.raises(CheckpointError, match="carries its own architecture.*leave out a layer stack, class names"):
        load_model(run.path, stack="x.yaml", classes=["a"])
