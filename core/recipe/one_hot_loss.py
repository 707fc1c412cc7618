"""The L1 and MSE losses of the loss table: the model's outputs (or their softmax) against one-hot targets."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class OneHotLoss(nn.Module):
    """An element-wise regression loss between the outputs and one-hot targets."""

    def __init__(self, function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], softmax: bool) -> None:
        super().__init__()
        self.function, self.softmax = function, softmax

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.softmax:
            outputs = outputs.softmax(1)
        targets = F.one_hot(labels, outputs.shape[1]).to(outputs.dtype)
        return self.function(outputs, targets)
