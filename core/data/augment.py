"""Training-only augmentation as batched tensor ops on the training device.

Each op draws its random numbers for the whole batch from one seeded CPU generator, so a run is
reproducible on any device. Images are float N x C x H x W in 0-255 units (before normalising).
Order: random crop, horizontal flip, rotation, colour jitter, grayscale. `horizontal_flip: alternate` is
airbench's derandomised flip: a seeded coin per image picks its first orientation, and each epoch turns it over.
`whole_images_from` ends smaller random crops at a share of the run's steps (the engine says where it is, `follow`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.config import AugmentConfig

_LUMA = (0.299, 0.587, 0.114)


class Augmenter:
    """`augmenter(images, ids, epoch)` applies the config's augmentation to a batch (no-op when none is set)."""

    def __init__(self, config: AugmentConfig, seed: int, count: int = 0) -> None:
        """`count`: the training images, numbered 0..count-1 by the `ids` a call passes (horizontal_flip: alternate)."""
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)
        # alternate: a seeded orientation per image for even epochs, the other one for odd epochs
        self.even_epoch_flips = self._uniform(count) < 0.5 if config.horizontal_flip == "alternate" else None
        self.crop_size = config.random_crop_size  # None: crops as large as the image

    def follow(self, progress: float) -> None:
        """Where the run is (the share of its planned steps done): from whole_images_from on, whole-size crops."""
        start = self.config.whole_images_from
        self.crop_size = None if start is not None and progress >= start else self.config.random_crop_size

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def __call__(self, images: torch.Tensor, ids: torch.Tensor | None = None, epoch: int = 0) -> torch.Tensor:
        """`ids` (each image's number in the training set) and `epoch` choose alternating flips; without ids
        (a preview) horizontal_flip: alternate flips a coin per image, as true does."""
        c = self.config
        x = images  # the crop and the flip move uint8 pixels: a quarter of the memory traffic of floats
        if c.random_crop_padding or c.random_crop_size:
            x = random_crop(x, c.random_crop_padding, self._uniform(len(x), 2), self.crop_size,
                            c.random_crop_padding_mode)
        if c.horizontal_flip:
            x = torch.where(self._flips(ids, epoch, len(x), x.device), x.flip(3), x)
        x = x.float()
        if c.rotation:
            x = rotate(x, (self._uniform(len(x)) * 2 - 1) * c.rotation)
        jitter = c.color_jitter
        for amount, op in ((jitter.brightness, _brightness), (jitter.contrast, _contrast), (jitter.saturation, _saturation)):
            if amount:
                x = op(x, (1 + (self._uniform(len(x)) * 2 - 1) * amount).to(x.device).view(-1, 1, 1, 1))
        if jitter.hue and x.shape[1] == 3:
            x = _hue(x, ((self._uniform(len(x)) * 2 - 1) * jitter.hue).to(x.device))
        if c.grayscale and x.shape[1] == 3:
            x = torch.where(self._chance(len(x), c.grayscale, x.device), _gray(x).expand_as(x), x)
        return x

    def _flips(self, ids: torch.Tensor | None, epoch: int, n: int, device: torch.device) -> torch.Tensor:
        """Which images to mirror: alternating by epoch (every two epochs show each image both ways), or a coin."""
        if self.even_epoch_flips is None or ids is None:
            return self._chance(n, 0.5, device)
        if self.even_epoch_flips.device != ids.device:  # moved once, so looking up a batch never waits on the GPU
            self.even_epoch_flips = self.even_epoch_flips.to(ids.device)
        return (self.even_epoch_flips[ids] ^ bool(epoch % 2)).to(device).view(-1, 1, 1, 1)

    def _uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator)

    def _chance(self, n: int, p: float, device: torch.device) -> torch.Tensor:
        return (self._uniform(n) < p).to(device).view(-1, 1, 1, 1)


_PAD_MODES = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}  # torchvision's names: F.pad's


def random_crop(x: torch.Tensor, padding: int, where: torch.Tensor,
                size: tuple[int, int] | None = None, padding_mode: str = "constant") -> torch.Tensor:
    """RandomCrop(size, padding, padding_mode=...): pad each side, then crop `size` (default: the original size)
    at `where` (N x 2 in [0, 1)).

    The images sharing an offset are cropped with one slice: one per offset at most, far cheaper
    than gathering every pixel by index.
    """
    height, width = size or x.shape[2:]
    padded = F.pad(x, (padding,) * 4, mode=_PAD_MODES[padding_mode]) if padding else x
    spans = torch.tensor([padded.shape[2] - height + 1, padded.shape[3] - width + 1])
    offsets = torch.minimum((where * spans).long(), spans - 1)
    out = x.new_empty((len(x), x.shape[1], height, width))
    keys = offsets[:, 0] * spans[1] + offsets[:, 1]
    for key in keys.unique().tolist():
        top, left = divmod(key, int(spans[1]))
        chosen = (keys == key).nonzero().squeeze(1).to(x.device)
        out[chosen] = padded[chosen, :, top:top + height, left:left + width]
    return out


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre (nearest pixel, black corners), as RandomRotation does."""
    radians = degrees.to(x.device, torch.float32) * (math.pi / 180)
    cos, sin = radians.cos(), radians.sin()
    zero = torch.zeros_like(cos)
    h, w = x.shape[2:]
    theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1), torch.stack([sin * w / h, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def _brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * factor).clamp(0, 255)


def _contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0, 255)


def _saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    gray = _gray(x)
    return ((x - gray) * factor + gray).clamp(0, 255)


_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Turn each RGB image's hue by `shift` (N, fractions of a full turn) about the grey axis, in YIQ space."""
    to_yiq = torch.tensor(_RGB_TO_YIQ, device=x.device, dtype=x.dtype)
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
    angle = (-shift * 2 * math.pi).view(-1, 1, 1)  # turning I toward -Q moves red to green, as HSV does
    cos, sin = angle.cos(), angle.sin()
    turned = torch.stack([yiq[:, 0], yiq[:, 1] * cos - yiq[:, 2] * sin, yiq[:, 1] * sin + yiq[:, 2] * cos], 1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_yiq), turned).clamp(0, 255)
