"""Lookahead (Zhang et al. 2019, arXiv:1907.08610) around whichever optimizer trains the run.

The optimizer moves the fast weights (the model's); every `steps` of its steps the slow weights
move `alpha` of the way to them and the fast ones start again from the slow ones. airbench uses an
EMA variant whose decay follows its own lr schedule; the paper's fixed alpha is the one that fits
any optimizer and schedule. The optimizer's own state (momentum, moments) carries on across syncs,
as in the paper. Validation and checkpoints see the weights as trained, the fast ones (equal to the
slow ones right after a sync): what the optimizer has reached is what best.pt then holds.
"""
from __future__ import annotations

from typing import Any

import torch


class Lookahead:
    """The slow weights of the optimizer's parameters; `after_step` syncs them on every `steps`-th step."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int, alpha: float) -> None:
        self.steps, self.alpha = steps, alpha
        self.fast = [parameter for group in optimizer.param_groups for parameter in group["params"]]
        self.slow = [parameter.detach().clone() for parameter in self.fast]

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """Called after each optimizer step with the steps taken so far (so a resumed run keeps its cycle)."""
        if step % self.steps:
            return
        for slow, fast in zip(self.slow, self.fast):
            slow.lerp_(fast, self.alpha)
            fast.copy_(slow)

    def state_dict(self) -> dict[str, Any]:
        return {"slow": [weights.cpu() for weights in self.slow]}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        for slow, saved in zip(self.slow, state["slow"], strict=True):
            slow.copy_(saved)
