"""Why a saved model decides: a heatmap of the input pixels behind one class score.

Two methods, both through Captum: Grad-CAM (`LayerGradCam`) on a layer with feature maps, the
last convolution by default or any layer by name, upsampled to the model's input size; and
occlusion, which hides patches of the image and measures how far the class score falls. Occlusion
needs no gradients, so it holds for models whose gradients mislead (saturated or frozen layers).
The image is preprocessed exactly as `Classifier` does it, with the checkpoint's own settings.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from core.data.loading import normalize_batch
from core.errors import WorkbenchError
from core.use.inference import Classifier

__all__ = ["METHODS", "ExplainError", "Explainer", "Explanation", "spatial_layers"]

Method = Literal["grad-cam", "occlusion"]
METHODS: tuple[Method, ...] = ("grad-cam", "occlusion")
_OCCLUSION_PATCHES = 8  # the occluding window is 1/8 of each side, moved by half its size


class ExplainError(WorkbenchError):
    """An explanation that cannot be made as asked (no such layer, a layer without feature maps)."""


@dataclass(frozen=True)
class Explanation:
    """One class's heatmap for one image, both at the model's input size."""

    image: torch.Tensor  # uint8 C x H x W, as the model sees it before normalising
    heatmap: torch.Tensor  # float H x W in 0..1; 1 is the strongest evidence for `class_name`
    class_name: str
    probability: float
    layer: str  # the layer Grad-CAM read, or "input" for occlusion
    method: Method

    def rows(self, digits: int = 3) -> list[list[float]]:
        """The heatmap as rows of rounded numbers, for JSON."""
        return [[round(value, digits) for value in row] for row in self.heatmap.tolist()]


def spatial_layers(model: nn.Module) -> list[str]:
    """Names of the convolution layers, in forward order: the layers Grad-CAM reads best."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.modules.conv._ConvNd)]


class Explainer:
    """Heatmaps for a classifier's predictions, by one method and (for Grad-CAM) one layer."""

    def __init__(self, classifier: Classifier, *, method: Method = "grad-cam", layer: str | None = None) -> None:
        if method not in METHODS:
            raise ExplainError(f"unknown explanation method '{method}'; choose {' or '.join(METHODS)}")
        self.classifier = classifier
        self.method = method
        self.layer = self._layer_name(layer) if method == "grad-cam" else "input"

    def explain_file(self, path: str | Path, top_k: int = 1) -> list[Explanation]:
        """One explanation for each of the file's top_k classes, most likely first (UnreadableImage)."""
        return self.explain(self.classifier.image(path), top_k)

    def explain(self, image: torch.Tensor, top_k: int = 1) -> list[Explanation]:
        """One explanation for each of the uint8 C x H x W image's top_k classes, most likely first."""
        probabilities = self.classifier.logits(image[None]).float().softmax(dim=1)[0].cpu()
        values, indices = probabilities.topk(max(1, min(top_k, len(self.classifier.classes))))
        return [Explanation(image, self.heatmap(image, index), self.classifier.classes[index], probability,
                            self.layer, self.method) for probability, index in zip(values.tolist(), indices.tolist())]

    def heatmap(self, image: torch.Tensor, class_index: int) -> torch.Tensor:
        """Evidence for class_index at each pixel of the uint8 C x H x W image: float H x W in 0..1."""
        inputs = normalize_batch(image[None].to(self.classifier.device), self.classifier.mean, self.classifier.std)
        with torch.enable_grad():
            attribution = self._grad_cam(inputs, class_index) if self.method == "grad-cam" \
                else self._occlusion(inputs, class_index)
        return _unit_range(attribution.detach().float().cpu())

    def _grad_cam(self, inputs: torch.Tensor, class_index: int) -> torch.Tensor:
        from captum.attr import LayerAttribution, LayerGradCam

        layer = self.classifier.model.get_submodule(self.layer)
        inputs = inputs.requires_grad_(True)  # so a frozen backbone still passes gradients to the layer
        maps = LayerGradCam(self.classifier.model, layer).attribute(inputs, target=class_index, relu_attributions=True)
        if maps.ndim != 4:
            raise ExplainError(f"layer '{self.layer}' does not output feature maps (channels x height x width); "
                               f"choose one of: {', '.join(spatial_layers(self.classifier.model))}")
        return LayerAttribution.interpolate(maps, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")[0, 0]

    def _occlusion(self, inputs: torch.Tensor, class_index: int) -> torch.Tensor:
        from captum.attr import Occlusion

        channels, height, width = inputs.shape[1:]
        window = (channels, max(1, height // _OCCLUSION_PATCHES), max(1, width // _OCCLUSION_PATCHES))
        strides = (channels, max(1, window[1] // 2), max(1, window[2] // 2))
        # baseline 0 after normalising is the dataset's mean colour: the patch carries no evidence either way
        attribution = Occlusion(self.classifier.model).attribute(inputs, sliding_window_shapes=window, strides=strides,
                                                                 baselines=0.0, target=class_index,
                                                                 perturbations_per_eval=16)
        return attribution[0].sum(dim=0).clamp(min=0)  # where hiding the pixels lowers the score

    def _layer_name(self, layer: str | None) -> str:
        model = self.classifier.model
        candidates = spatial_layers(model)
        if layer is None:
            if not candidates:
                raise ExplainError("the model has no convolution layer for Grad-CAM; name a layer with feature maps "
                                   "with --layer, or use --method occlusion")
            return candidates[-1]
        names = [name for name, _ in model.named_modules() if name]
        if layer not in names:
            close = difflib.get_close_matches(layer, names, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            shown = ", ".join(candidates[-8:]) or "none"
            raise ExplainError(f"the model has no layer named '{layer}'; {hint}convolution layers: {shown}")
        return layer


def _unit_range(values: torch.Tensor) -> torch.Tensor:
    """Scaled so the largest value is 1; all zeros when there is no positive evidence."""
    values = values.clamp(min=0).nan_to_num(0.0)
    peak = values.max()
    return values / peak if peak > 0 else torch.zeros_like(values)
