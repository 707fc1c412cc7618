"""Test-time augmentation: a model's outputs averaged over weighted views of each image (`train.tta`).

`POLICIES` names each policy's views; adding one is one entry. `flip_shift` is airbench94's "TTA level 2"
(Keller Jordan's fast CIFAR-10 trainer): the image and its mirror, then both shifted one pixel up-left and
down-right, the shifted pairs weighing half as much. Images are N x C x H x W; torch is imported when a view
is made, so reading a config never loads it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class View:
    weight: float  # a policy's weights sum to 1
    make: Callable[[torch.Tensor], torch.Tensor]


def same(images: torch.Tensor) -> torch.Tensor:
    return images


def mirror(images: torch.Tensor) -> torch.Tensor:
    return images.flip(3)


def shift(images: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """The content moved `down` and `right` pixels (each -1, 0 or 1), the border reflected into the gap."""
    import torch.nn.functional as F

    height, width = images.shape[2:]
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect" if min(height, width) > 1 else "replicate")
    return padded[:, :, 1 - down:1 - down + height, 1 - right:1 - right + width]


def _shifted(step: int, mirrored: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The view shifted `step` pixels down and right (-1: up-left), then mirrored or not."""
    return lambda images: mirror(shift(images, step, step)) if mirrored else shift(images, step, step)


POLICIES: dict[str, tuple[View, ...]] = {
    "none": (View(1.0, same),),
    "flip": (View(0.5, same), View(0.5, mirror)),
    "flip_shift": (View(0.25, same), View(0.25, mirror),
                   *(View(0.125, _shifted(step, mirrored)) for step in (-1, 1) for mirrored in (False, True))),
}


def tta_outputs(model: Model, images: torch.Tensor, policy: str) -> torch.Tensor:
    """The weighted sum of the model's outputs on each of the policy's views of `images` (a lone view's as they are)."""
    first, *rest = POLICIES[policy]
    if not rest:
        return model(first.make(images))
    outputs = first.weight * model(first.make(images))
    for view in rest:
        outputs = outputs + view.weight * model(view.make(images))
    return outputs
