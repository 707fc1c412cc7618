"""A heatmap drawn over its image: the colours shared by `workbench explain`'s PNGs and the app."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from core.files import atomic_write

__all__ = ["heat_colours", "overlay", "overlay_picture", "save_overlay"]


# a perceptually ordered ramp (dark blue, purple, orange, pale yellow), interpolated linearly between stops
_STOPS = torch.tensor([[0, 0, 40], [90, 20, 130], [200, 60, 80], [250, 150, 30], [255, 250, 180]], dtype=torch.float32)
_MIN_SIDE = 256  # PNGs are enlarged (whole pixels) until they are at least this wide, so small inputs stay visible


def heat_colours(heatmap: torch.Tensor) -> torch.Tensor:
    """float H x W in 0..1 -> uint8 3 x H x W on the ramp."""
    position = heatmap.clamp(0, 1) * (len(_STOPS) - 1)
    low = position.floor().long().clamp(max=len(_STOPS) - 2)
    fraction = (position - low)[..., None]
    colours = _STOPS[low] * (1 - fraction) + _STOPS[low + 1] * fraction
    return colours.round().to(torch.uint8).permute(2, 0, 1)


def overlay(image: torch.Tensor, heatmap: torch.Tensor, opacity: float = 0.6) -> torch.Tensor:
    """uint8 C x H x W image (1 or 3 channels) with the heatmap over it: uint8 3 x H x W.

    The heat is more opaque where it is stronger, so cold regions keep the picture readable."""
    picture = image.expand(3, -1, -1).float()
    weight = opacity * heatmap.clamp(0, 1)[None].sqrt()
    return (picture * (1 - weight) + heat_colours(heatmap).float() * weight).round().to(torch.uint8)


def overlay_picture(image: torch.Tensor, heatmap: torch.Tensor) -> Image.Image:
    """The overlay as an RGB PIL image at the model's input size."""
    return Image.fromarray(overlay(image, heatmap).permute(1, 2, 0).numpy(), mode="RGB")


def save_overlay(image: torch.Tensor, heatmap: torch.Tensor, path: Path) -> Path:
    """The overlay as a PNG at `path`, written atomically, enlarged by whole pixels to at least 256 wide."""
    picture = overlay_picture(image, heatmap)
    scale = max(1, -(-_MIN_SIDE // picture.width))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    atomic_write(path, lambda file: picture.save(file, format="PNG"))
    return path
