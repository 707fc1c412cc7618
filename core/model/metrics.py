"""Per-layer costs from shapes alone: multiply-adds and activation memory (float32, one sample)."""
from __future__ import annotations

from math import prod
from typing import Sequence

from torch import nn

BYTES_PER_VALUE = 4  # float32
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def leaf_mult_adds(module: nn.Module, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
    """Multiply-adds of one leaf module for one sample: convolutions, linears and norms count, the rest 0."""
    if isinstance(module, nn.ConvTranspose2d):
        return prod(input_shape) * module.weight.numel() // module.in_channels
    if isinstance(module, nn.Conv2d):
        return prod(output_shape) * module.weight.numel() // module.out_channels
    if isinstance(module, nn.Linear):
        return prod(output_shape) // module.out_features * module.weight.numel()
    if isinstance(module, _NORMS):
        return prod(output_shape)
    return 0


def module_mult_adds(module: nn.Module, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
    """Multiply-adds of a registry layer: its leaves see the layer's own input and output shapes."""
    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    return sum(leaf_mult_adds(leaf, input_shape, output_shape) for leaf in leaves)


def activation_bytes(shape: Sequence[int]) -> int:
    """Memory of one sample's output of this shape."""
    return prod(shape) * BYTES_PER_VALUE


def parameter_counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, frozen) parameter counts."""
    trainable = frozen = 0
    for parameter in module.parameters():
        if parameter.requires_grad:
            trainable += parameter.numel()
        else:
            frozen += parameter.numel()
    return trainable, frozen
