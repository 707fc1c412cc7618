"""Classifying image files with a saved model, using exactly its training preprocessing.

`load_model` reads every kind of model file workbench knows (see its docstring) into a `Classifier`;
nothing in a file runs code unless the caller opts in (trust_pickle, allow_user_code).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from core.model.checkpoints import (CheckpointError, check_format, check_preprocess, first_line, inspect_model_file,
                              is_checkpoint, model_file, needs_trust, read_pickled_model, read_safetensors, read_torch_file,
                              rebuild_model, run_dir_of, state_dict_of, TRUST_HINT)
from core.data.images import UnreadableImage
from core.data.loading import image_tensor, normalize_batch
from core.data.tta import tta_outputs
from core.errors import WorkbenchError

__all__ = ["Classifier", "FileFailure", "Prediction", "load_model", "needs_trust", "decode_parallel",
           "IMAGENET_MEAN", "IMAGENET_STD", "TUTORIAL_MEAN", "TUTORIAL_STD"]

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's pretrained weights
TUTORIAL_MEAN, TUTORIAL_STD = [0.5], [0.5]  # the CIFAR-10 tutorial's Normalize((0.5, ...), (0.5, ...))
TORCHVISION_IMAGE_SIZE, TORCHVISION_RESIZE = (224, 224), 256  # the transfer-learning tutorial's val transforms
T = TypeVar("T")


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: list[tuple[str, float]]  # (class, probability), most likely first

    @property
    def label(self) -> str:
        return self.top[0][0]


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be classified, and why (short and human: 'not an image', 'truncated image')."""

    path: Path
    reason: str


class Classifier:
    """A model with its classes and preprocessing, ready to classify files.

    `Classifier(checkpoint)` rebuilds a workbench checkpoint (a dict from load_checkpoint);
    `load_model(path)` reads any model file; `Classifier.from_module` wraps a model already built.
    """

    def __init__(self, checkpoint: dict, device: str | torch.device = "cpu", *, allow_user_code: bool = False,
                 source: Path | None = None) -> None:
        model = rebuild_model(checkpoint, allow_user_code=allow_user_code, path=source)
        self._setup(model, checkpoint["classes"], check_preprocess(source or "the checkpoint", checkpoint["preprocess"]),
                    device, spec=checkpoint["model"], source=source)
        self.epoch: int | None = checkpoint.get("epoch")
        self.metrics: dict[str, Any] = dict(checkpoint.get("metrics") or {})
        self.config: dict[str, Any] | None = checkpoint.get("config")

    @classmethod
    def from_module(cls, model: nn.Module, classes: Sequence[str], preprocess: dict[str, Any],
                    device: str | torch.device = "cpu", *, spec: dict[str, Any] | None = None,
                    source: Path | None = None) -> "Classifier":
        """A classifier around a built model; its output count is checked against the classes with one
        forward pass of a blank image of the preprocessing's size."""
        self = cls.__new__(cls)
        preprocess = check_preprocess(source or "the model", preprocess)
        self._setup(model.eval(), list(classes), preprocess, device, spec=spec, source=source)
        self.epoch, self.metrics, self.config = None, {}, None
        self._check_outputs()
        return self

    def _setup(self, model: nn.Module, classes: Sequence[str], preprocess: dict[str, Any],
               device: str | torch.device, *, spec: dict[str, Any] | None, source: Path | None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.classes: list[str] = list(classes)
        self.preprocess = preprocess
        self.image_size = tuple(preprocess["image_size"])
        self.channels = int(preprocess["channels"])
        resize = preprocess.get("resize")  # absent in older checkpoints
        self.resize = tuple(resize) if isinstance(resize, list) else resize
        self.mean = torch.tensor(preprocess["mean"], device=self.device).view(-1, 1, 1)
        self.std = torch.tensor(preprocess["std"], device=self.device).view(-1, 1, 1)
        self.spec = spec  # the plain model spec (core/model/build.py); None for a pickled model
        self.source = source

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Classifier":
        return load_model(path, device=str(device))

    @property
    def run_dir(self) -> Path | None:
        """The run directory the model file belongs to, if any."""
        return run_dir_of(self.source) if self.source is not None else None

    def logits(self, images_uint8: torch.Tensor, tta: str = "none") -> torch.Tensor:
        """Raw model outputs for a uint8 batch (N x C x H x W) preprocessed like training, averaged over the
        views of test-time augmentation policy `tta` (core/data/tta.py)."""
        with torch.inference_mode():
            return tta_outputs(self.model, normalize_batch(images_uint8.to(self.device), self.mean, self.std), tta)

    def image(self, path: str | Path) -> torch.Tensor:
        """One file as this model sees it before normalising: uint8 C x H x W (UnreadableImage)."""
        return image_tensor(Path(path), self.image_size, self.channels, self.resize)

    def classify(self, paths: list[str | Path], top_k: int = 5) -> list[Prediction]:
        """Top-k classes with probabilities for each image file (UnreadableImage if one cannot be read)."""
        batch = torch.stack([self.image(p) for p in paths])
        return self._predict([Path(p) for p in paths], batch, top_k)

    def classify_files(self, paths: list[Path], top_k: int = 5, batch_size: int = 64) -> list[Prediction | FileFailure]:
        """A Prediction or a FileFailure per path, in order; files are decoded in threads and classified
        batch_size at a time. Never raises for a bad image."""
        results: list[Prediction | FileFailure] = []
        batch_size = max(1, batch_size)
        for start in range(0, len(paths), batch_size):
            chunk = [Path(p) for p in paths[start:start + batch_size]]
            decoded = decode_parallel(self.image, chunk)
            good = {i: item for i, item in enumerate(decoded) if isinstance(item, torch.Tensor)}
            predictions = iter(self._predict([chunk[i] for i in good], torch.stack(list(good.values())), top_k)
                               if good else [])
            results += [next(predictions) if isinstance(item, torch.Tensor) else FileFailure(path, item.reason)
                        for path, item in zip(chunk, decoded)]
        return results

    def _predict(self, paths: list[Path], batch: torch.Tensor, top_k: int) -> list[Prediction]:
        probabilities = self.logits(batch).float().softmax(dim=1).cpu()
        k = max(1, min(top_k, len(self.classes)))
        values, indices = probabilities.topk(k, dim=1)
        return [Prediction(path, [(self.classes[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())])
                for path, vals, idx in zip(paths, values, indices)]

    def _check_outputs(self) -> None:
        blank = torch.zeros((1, self.channels, *self.image_size), dtype=torch.uint8)
        where = self.source or "the model"
        try:
            output = self.logits(blank)
        except Exception as exc:
            size = "x".join(map(str, (self.channels, *self.image_size)))
            raise CheckpointError(f"{where}: the model does not take {size} images (channels x height x width): "
                                  f"{first_line(exc)}; give the size it was trained at") from exc
        if output.ndim != 2 or output.shape[1] != len(self.classes):
            raise CheckpointError(f"{where}: the model gives {tuple(output.shape[1:])} outputs per image, "
                                  f"but {len(self.classes)} class names were given")


def decode_parallel(decode: Callable[[T], torch.Tensor], items: Sequence[T]) -> list[torch.Tensor | UnreadableImage]:
    """decode(item) for every item, in threads, in order; an unreadable image gives its UnreadableImage."""
    def one(item: T) -> torch.Tensor | UnreadableImage:
        try:
            return decode(item)
        except UnreadableImage as exc:
            return exc

    if len(items) < 2:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2, len(items))) as pool:
        return list(pool.map(one, items))


def load_model(path: str | Path, *, device: str = "cpu", trust_pickle: bool = False, allow_user_code: bool = False,
               stack: str | Path | None = None, torchvision: str | None = None, classes: list[str] | None = None,
               image_size: tuple[int, int] | None = None, channels: int | None = None,
               mean: list[float] | None = None, std: list[float] | None = None) -> Classifier:
    """A classifier from any model file workbench reads:

    - a workbench checkpoint, or a run directory (its checkpoints/best.pt);
    - a safetensors file written by `workbench export`;
    - a plain state dict (`torch.save(model.state_dict())`, also nested as {"state_dict": ...}) with
      its architecture, `stack=` a layer-stack YAML (needs image_size) or `torchvision=` a model name
      (without image_size: Resize(256) then CenterCrop(224), the transfer-learning tutorial's
      validation transform), and `classes=`;
    - a whole pickled model (`torch.save(model)`) only with trust_pickle=True, plus classes= and image_size=.

    Foreign models are normalised with mean/std when given, else torchvision's ImageNet statistics
    for torchvision= and the tutorial's 0.5/0.5 otherwise; channels default to the first
    convolution's input channels. CheckpointError (plain text) for any file that is refused,
    corrupt, truncated, empty or foreign, or whose weights do not fit; nothing partly loaded is returned.
    """
    path = model_file(path)
    target = _device(device)
    if stack is not None and torchvision is not None:
        raise CheckpointError("give the architecture as a layer-stack file or a torchvision name, not both")
    found = inspect_model_file(path)
    foreign = _Foreign(path, stack, torchvision, classes, image_size, channels, mean, std)
    if found.kind == "safetensors":
        foreign.refuse_options("a safetensors file written by workbench export")
        return Classifier(read_safetensors(path), target, allow_user_code=allow_user_code, source=path)
    if found.unsafe:
        if not trust_pickle:
            raise CheckpointError(f"{path} is {found.trust_reason}. It is not loaded. {TRUST_HINT}")
        content = read_pickled_model(path)  # the one place a file's code runs: the user said they trust it
        if isinstance(content, nn.Module):
            return foreign.classifier(content, target, spec=None)
    else:
        content = read_torch_file(path)
    if is_checkpoint(content):
        check_format(path, content)
        foreign.refuse_options("a workbench checkpoint")
        return Classifier(content, target, allow_user_code=allow_user_code, source=path)
    state = state_dict_of(content)
    if state is None:
        raise CheckpointError(f"{path} holds {_describe(content)}, not a model's weights; workbench loads its "
                              "checkpoints, state dicts saved with torch.save(model.state_dict()) and safetensors files")
    return foreign.from_state_dict(state, target, allow_user_code)


@dataclass(frozen=True)
class _Foreign:
    """What the caller said about a model file that does not describe itself."""

    path: Path
    stack: str | Path | None
    torchvision: str | None
    classes: list[str] | None
    image_size: tuple[int, int] | None
    channels: int | None
    mean: list[float] | None
    std: list[float] | None

    def refuse_options(self, what: str) -> None:
        given = [name for name, value in (("a layer stack", self.stack), ("a torchvision name", self.torchvision),
                                          ("class names", self.classes), ("an image size", self.image_size),
                                          ("channels", self.channels), ("mean", self.mean), ("std", self.std))
                 if value is not None]
        if given:
            raise CheckpointError(f"{self.path} is {what}: it carries its own architecture, classes and "
                                  f"preprocessing, so leave out {', '.join(given)}")

    def from_state_dict(self, state: dict[str, torch.Tensor], device: torch.device, allow_user_code: bool) -> Classifier:
        if self.stack is None and self.torchvision is None:
            raise CheckpointError(f"{self.path} is a plain state dict (weights without an architecture): give the "
                                  "architecture with --stack FILE (a layer-stack YAML) or --torchvision NAME, and the "
                                  "class names with --classes")
        classes = self._classes()
        preprocess = self._preprocess(_first_conv_channels(state.values()))
        shape = [preprocess["channels"], *preprocess["image_size"]]
        if self.torchvision is not None:
            spec = {"torchvision": {"name": self.torchvision, "freeze_backbone": False, "append": []}, "input_shape": shape}
        else:
            assert self.stack is not None  # refused above when neither is given
            spec = {"layers": _stack_entries(Path(self.stack), shape, len(classes)), "input_shape": shape}
        checkpoint = {"model": spec, "state_dict": state, "classes": classes, "preprocess": preprocess}
        classifier = Classifier(checkpoint, device, allow_user_code=allow_user_code, source=self.path)
        classifier._check_outputs()
        return classifier

    def classifier(self, model: nn.Module, device: torch.device, spec: dict[str, Any] | None) -> Classifier:
        preprocess = self._preprocess(_first_conv_channels(p.detach() for p in model.parameters()))
        return Classifier.from_module(model, self._classes(), preprocess, device, spec=spec, source=self.path)

    def _classes(self) -> list[str]:
        if not self.classes:
            raise CheckpointError(f"{self.path} does not name its classes: give them in output order with --classes")
        return list(self.classes)

    def _preprocess(self, guessed_channels: int | None) -> dict[str, Any]:
        size = self.image_size or (TORCHVISION_IMAGE_SIZE if self.torchvision is not None else None)
        if size is None:
            raise CheckpointError(f"{self.path}: give the image size the model was trained at with --image-size H,W "
                                  "(the tutorial's CIFAR-10 model: 32,32)")
        channels = self.channels or (3 if self.torchvision is not None else guessed_channels or 3)
        default_mean, default_std = (IMAGENET_MEAN, IMAGENET_STD) if self.torchvision else (TUTORIAL_MEAN, TUTORIAL_STD)
        mean, std = self.mean or default_mean, self.std or default_std
        if len(mean) == 1 and len(std) == 1:
            mean, std = mean * channels, std * channels
        resize = TORCHVISION_RESIZE if self.torchvision is not None and self.image_size is None else None
        return {"image_size": list(size), "channels": channels, "resize": resize, "mean": list(mean), "std": list(std)}


def _stack_entries(path: Path, input_shape: list[int], num_classes: int) -> list:
    from core.model.files import load_stack
    from core.model.stack import check_stack

    report = check_stack(load_stack(path), input_shape, num_classes)
    if report.error:
        size = "x".join(map(str, input_shape))
        raise CheckpointError(f"the layer stack {path} does not fit {size} images and {num_classes} classes: "
                              f"{report.error}")
    return [row.spec.to_entry() for row in report.rows]


def _first_conv_channels(tensors) -> int | None:
    """The input channels of the first 4-D weight (a convolution), when that is 1 or 3."""
    for tensor in tensors:
        if tensor.ndim == 4:
            return int(tensor.shape[1]) if tensor.shape[1] in (1, 3) else None
    return None


def _device(name: str) -> torch.device:
    from core.prepare.devices import resolve_device

    try:
        return resolve_device(name)
    except WorkbenchError as exc:
        raise WorkbenchError(str(exc).replace("train.device", "the device")) from exc
    except (RuntimeError, ValueError) as exc:
        raise WorkbenchError(f"unknown device '{name}': use cpu, cuda, cuda:N, mps or auto") from exc


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(map(repr, list(value)[:5]))
        return f"a dict of {keys}{', ...' if len(value) > 5 else ''}" if value else "an empty dict"
    return f"a {type(value).__name__}"
