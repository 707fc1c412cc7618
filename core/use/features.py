"""Inside the model: what each layer makes of one image (the tutorial writes conv outputs to TensorBoard)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.use.inference import Classifier


@dataclass(frozen=True)
class LayerMaps:
    index: int  # position among the model's top-level children
    name: str  # e.g. "Conv2d", or "layer1 (Sequential)" for a named child
    maps: torch.Tensor  # uint8, C x H x W, each channel min-max scaled; at most max_channels channels
    channels: int = 0  # the layer's channel count before max_channels cut it


def feature_maps(classifier: Classifier, image: Path, max_channels: int = 16) -> list[LayerMaps]:
    """Every top-level layer whose output is an image (N x C x H x W), for one image file, by forward
    hooks on the model's top-level children; UnreadableImage when the file cannot be read."""
    pixels = classifier.image(image)[None]
    children = list(classifier.model.named_children())
    outputs: dict[int, torch.Tensor] = {}

    def hook(index: int):
        def keep(module: torch.nn.Module, inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                outputs[index] = output[0, :max_channels].detach().float().cpu()
                channel_counts[index] = output.shape[1]
        return keep

    channel_counts: dict[int, int] = {}
    handles = [module.register_forward_hook(hook(index)) for index, (_, module) in enumerate(children)]
    try:
        classifier.logits(pixels)
    finally:
        for handle in handles:
            handle.remove()
    return [LayerMaps(index, _name(*children[index]), _scaled(maps), channel_counts[index])
            for index, maps in sorted(outputs.items())]


def _name(child: str, module: torch.nn.Module) -> str:
    kind = type(module).__name__
    return kind if child.isdigit() else f"{child} ({kind})"


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each channel stretched to 0..255 (a flat channel is black)."""
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    span = torch.where(high > low, high - low, torch.ones_like(high))
    return ((maps - low) / span * 255).round().clamp(0, 255).to(torch.uint8)


def log_feature_maps(layers: list[LayerMaps], image: Path, log_dir: Path, pixels: torch.Tensor | None = None) -> None:
    """One TensorBoard image per layer (its channels in a grid), plus the input as the model sees it."""
    from torch.utils.tensorboard import SummaryWriter
    from torchvision.utils import make_grid

    writer = SummaryWriter(str(log_dir))
    try:
        if pixels is not None:
            writer.add_image(f"features/{image.name}/input", pixels)
        for layer in layers:
            grid = make_grid(layer.maps[:, None], nrow=min(8, len(layer.maps)), padding=1, pad_value=255)
            writer.add_image(f"features/{image.name}/{layer.index:02d} {layer.name}", grid)
    finally:
        writer.close()
