"""Modules the registry builds that torch.nn lacks.

A module that sets its weights from the training data has `init_from_data(images)`: the engine
calls it once, before the first step of a new run (never on a resume or a checkpoint load, which
bring the weights), and lr-find before its sweep, with a bounded sample of training images
normalised as training sees them.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, cast, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

PATCH_CHUNK = 256  # images unfolded at a time: the patches of a whole sample would not fit in memory
SAMPLE_IMAGES, SAMPLE_VALUES = 5000, 2**24  # what init_from_data sees: 5,000 images, 64 MB of floats at most


@runtime_checkable
class InitFromData(Protocol):
    """A module that sets its weights from normalised N x C x H x W training images."""

    def init_from_data(self, images: torch.Tensor) -> None: ...


class _AllSet(Exception):
    """Ends the forward pass once every module that asked has its weights."""


def init_from_data(model: nn.Module, sample: Callable[[int], torch.Tensor], image_shape: Sequence[int]) -> tuple[int, int]:
    """Set every module with `init_from_data` from `sample(count)`, normalised training images: each gets what
    reaches it in a forward pass of them (the images themselves for a first layer; the layers before it run as
    in evaluation, in order, so a later one sees the earlier ones set). (modules set, images); no sample is
    taken when no module asks."""
    waiting: list[nn.Module] = [module for module in model.modules() if isinstance(module, InitFromData)]
    if not waiting:
        return 0, 0
    images = sample(max(1, min(SAMPLE_IMAGES, SAMPLE_VALUES // math.prod(image_shape))))

    def set_from_input(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        cast(InitFromData, module).init_from_data(inputs[0])
        waiting.remove(module)
        if not waiting:
            raise _AllSet

    asked = len(waiting)
    hooks = [module.register_forward_pre_hook(set_from_input) for module in waiting]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            model(images)
    except _AllSet:
        pass
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return asked - len(waiting), len(images)


class Residual(nn.Module):
    """A skip connection: body(x) + x (the body keeps the shape)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class PatchWhitening(nn.Conv2d):
    """A convolution whose filters whiten its input's patches (airbench's first layer).

    Each filter is an eigenvector of the covariance of the training images' kernel_size patches,
    scaled by 1 / sqrt(eigenvalue + eps), used with both signs: out_channels / 2 directions, the
    largest first. Its outputs on training patches have (about) unit variance and no correlation.
    `freeze` keeps the filters as computed; the bias (which starts at minus the mean patch's
    response, so outputs are centred) still trains.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 padding: int | tuple[int, int] = 0, bias: bool = True, eps: float = 5e-4, freeze: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        directions = in_channels * self.kernel_size[0] * self.kernel_size[1]
        if out_channels % 2 or out_channels > 2 * directions:
            raise ValueError(f"out_channels must be even and at most 2 x {directions} (two per patch direction), "
                             f"got {out_channels}")
        self.eps = eps
        self.weight.requires_grad_(not freeze)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the filters (and the bias) from normalised N x C x H x W images."""
        assert not isinstance(self.padding, str)  # the registry gives numbers
        mean, covariance = patch_statistics(images, self.kernel_size, self.padding)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        keep = self.out_channels // 2
        scale = (eigenvalues.flip(0)[:keep] + self.eps).rsqrt()
        filters = (eigenvectors.flip(1)[:, :keep] * scale).T  # one direction per row
        weight = torch.cat((filters, -filters))
        self.weight.copy_(weight.reshape(self.weight.shape).to(self.weight))
        if self.bias is not None:
            self.bias.copy_(-(weight @ mean).to(self.bias))


def patch_statistics(images: torch.Tensor, kernel_size: tuple[int, ...],
                     padding: tuple[int, ...] | int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance (float64, on the CPU) of every kernel_size patch of the images, each
    flattened channel-major as a convolution's filter is."""
    size = images.shape[1] * kernel_size[0] * kernel_size[1]
    total, products = torch.zeros(size, dtype=torch.float64), torch.zeros(size, size, dtype=torch.float64)
    count = 0
    for chunk in images.split(PATCH_CHUNK):
        patches = F.unfold(chunk.float(), kernel_size, padding=padding).transpose(1, 2).flatten(0, 1)
        total += patches.sum(0).double().cpu()
        products += (patches.T @ patches).double().cpu()
        count += len(patches)
    mean = total / count
    return mean, products / count - torch.outer(mean, mean)
