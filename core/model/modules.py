"""Modules the registry builds that torch.nn lacks."""
from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """A skip connection: body(x) + x (the body keeps the shape)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x
