"""Writing a loaded model for use outside workbench, each file checked before it is kept.

  safetensors  the weights plus metadata (architecture, classes, preprocessing) that `load_model` reads back
  torchscript  torch.jit.trace of the model with its normalisation inside: float images in [0, 1],
               N x C x H x W, to logits; the metadata rides along as the extra file workbench.json
  onnx         the same model as ONNX (the optional `onnx` extra), metadata in metadata_props

A TorchScript or ONNX file is kept only when it gives the same logits as workbench on a seeded batch.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.model.checkpoints import SAFETENSORS_FORMAT, first_line
from core.errors import WorkbenchError
from core.files import atomic_write, replacing
from core.use.inference import Classifier, load_model

FORMATS = ("safetensors", "torchscript", "onnx")
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INSTALL_ONNX = ".venv/bin/pip install -e '.[onnx]'"
TOLERANCE = {"safetensors": 1e-6, "torchscript": 1e-4, "onnx": 1e-3}  # relative to the largest logit (at least 1)


class ExportError(WorkbenchError):
    """The model cannot be written in that format, or the written file does not match it."""


class MissingExtra(ExportError):
    """An optional package the format needs is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    max_difference: float  # largest |logit difference| between the file and workbench on the check batch


class WithPreprocessing(nn.Module):
    """The model with its normalisation: float images in [0, 1] (pixels / 255) to logits."""

    mean: torch.Tensor  # buffers, so they move and export with the model
    std: torch.Tensor

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model((images - self.mean) / self.std)


def metadata(classifier: Classifier) -> dict[str, Any]:
    """What a reader needs besides the weights: classes, preprocessing, the architecture when known."""
    return {"classes": list(classifier.classes), "preprocess": dict(classifier.preprocess), "model": classifier.spec,
            "input": "float32 N x C x H x W in [0, 1] (pixels / 255); the normalisation is inside the model"}


def export_model(classifier: Classifier, format: str, output: Path) -> Exported:
    """Write `classifier` as `format` to `output` (atomically) after checking the written file's logits."""
    if format not in FORMATS:
        raise ExportError(f"unknown export format '{format}': choose {', '.join(FORMATS)}")
    if format == "onnx":
        missing_onnx_packages()
    example = check_batch(classifier)
    model = _cpu_model(classifier)
    with torch.inference_mode():  # every check runs on the CPU, whatever device the classifier uses
        expected = model(_as_float(example)) if classifier.device.type != "cpu" else classifier.logits(example).float()
    with replacing(output) as temp:  # every format gets the same permissions: 0666 less the umask
        {"safetensors": _write_safetensors, "torchscript": _write_torchscript, "onnx": _write_onnx}[format](
            classifier, model, temp, example)
        actual = {"safetensors": _run_safetensors, "torchscript": _run_torchscript, "onnx": _run_onnx}[format](
            temp, example)
        difference = float((actual.float() - expected).abs().max())
        allowed = TOLERANCE[format] * max(1.0, float(expected.abs().max()))
        if not difference <= allowed:
            raise ExportError(f"the {format} file gives logits up to {difference:.3g} away from workbench's "
                              f"(allowed {allowed:.3g}); it was not written")
    return Exported(output, format, difference)


def check_batch(classifier: Classifier) -> torch.Tensor:
    """Two seeded random uint8 images of the model's input size."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (2, classifier.channels, *classifier.image_size), generator=generator, dtype=torch.uint8)


def missing_onnx_packages() -> None:
    """MissingExtra naming the packages ONNX export needs and the install command, when any is missing."""
    import importlib.util

    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(f"ONNX export needs the optional packages {', '.join(missing)}, which are not installed; "
                           f"install them with:  {INSTALL_ONNX}")


def _cpu_model(classifier: Classifier) -> nn.Module:
    model = classifier.model if classifier.device.type == "cpu" else copy.deepcopy(classifier.model).cpu()
    return WithPreprocessing(model, classifier.preprocess["mean"], classifier.preprocess["std"]).eval()


def _as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


def _write_safetensors(classifier: Classifier, model: nn.Module, path: Path, example: torch.Tensor) -> None:
    from safetensors.torch import save

    if classifier.spec is None:
        raise ExportError("this model was loaded from a whole-model pickle, so workbench knows no architecture to "
                          "rebuild it from; export it as torchscript or onnx instead")
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in classifier.model.state_dict().items()}
    header = {"format": SAFETENSORS_FORMAT, "version": "1", "model": json.dumps(classifier.spec),
              "classes": json.dumps(classifier.classes), "preprocess": json.dumps(classifier.preprocess)}
    data = save(tensors, metadata=header)
    atomic_write(path, lambda handle: handle.write(data))


def _run_safetensors(path: Path, example: torch.Tensor) -> torch.Tensor:
    return load_model(path, allow_user_code=True).logits(example).float()


def _write_torchscript(classifier: Classifier, model: nn.Module, path: Path, example: torch.Tensor) -> None:
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; still the portable format
            traced = torch.jit.trace(model, _as_float(example), check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={"workbench.json": json.dumps(metadata(classifier))})
    except Exception as exc:
        raise ExportError(f"TorchScript tracing failed ({type(exc).__name__}: {first_line(exc)})") from exc


def _run_torchscript(path: Path, example: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return loaded(_as_float(example))


def _write_onnx(classifier: Classifier, model: nn.Module, path: Path, example: torch.Tensor) -> None:
    import onnx

    batch = torch.export.Dim("batch", min=1)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # progress prints
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (_as_float(example),), input_names=["images"], output_names=["logits"],
                                        dynamo=True, external_data=False, dynamic_shapes=({0: batch},))
            assert program is not None  # None only for the legacy exporter (dynamo=False)
            proto = program.model_proto
    except Exception as exc:
        raise ExportError(f"ONNX export failed ({type(exc).__name__}: {first_line(exc)})") from exc
    for key, value in metadata(classifier).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"workbench.{key}", json.dumps(value)
    atomic_write(path, lambda handle: handle.write(proto.SerializeToString()))
    onnx.checker.check_model(str(path))


def _run_onnx(path: Path, example: torch.Tensor) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [logits] = session.run(None, {"images": _as_float(example).numpy()})
    return torch.from_numpy(logits)
