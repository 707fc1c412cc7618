"""torch.optim.Muon for every weight matrix, another torch optimizer for the rest, as one optimizer.

torch's Muon takes 2-D parameters only, so a convolution's filters go to it as a 2-D view of
their storage: out_channels x (in_channels x kernel area), or for channels-last filters
out_channels x (kernel area x in_channels), a permutation of the columns, which Muon's
orthogonalisation and elementwise momentum commute with, so the step is the same. Biases, norm
layers and anything else go to the other optimizer. Its param_groups are the model's own
parameters, so the lr schedule, gradient clipping and the GradScaler act on them as on any
optimizer; each step hands their hyperparameters and gradients to the two inner optimizers.

With `normalize_filters` each conv's filters are scaled back to norm √out_channels before its step
(airbench's Muon): where a norm layer follows the conv, its output ignores that scale, and without it
the weights grow with every orthogonal step, so the same lr would move them less and less.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


class MuonWithFallback(torch.optim.Optimizer):
    """Muon (`muon_options`) on the matrices among `parameters`, and `fallback(groups)` on the rest: one
    group, and `kept_out` (a matrix left to the fallback, as the classifier's weight) in a second with
    `kept_out_options` (its own lr)."""

    def __init__(self, parameters: Iterable[nn.Parameter], muon_options: dict[str, Any],
                 fallback: Callable[[list[dict[str, Any]]], torch.optim.Optimizer], *,
                 normalize_filters: bool = False, kept_out: torch.Tensor | None = None,
                 kept_out_options: dict[str, Any] | None = None) -> None:
        matrices: list[nn.Parameter] = []
        rest: list[nn.Parameter] = []
        kept: list[nn.Parameter] = []
        self.views: list[tuple[nn.Parameter, torch.Tensor, bool]] = []  # a matrix, its 2-D view, whether channels-last
        for parameter in parameters:
            view = _matrix_view(parameter) if parameter.dim() >= 2 else None
            if parameter is kept_out:
                kept.append(parameter)
            elif view is None:
                rest.append(parameter)
            else:
                matrices.append(parameter)
                self.views.append((parameter, view[0], view[1]))
        self.normalized = [parameter for parameter in matrices if normalize_filters and parameter.dim() == 4]
        self.inner: list[torch.optim.Optimizer] = []  # either may be left out: torch's refuse no parameters
        groups: list[dict[str, Any]] = []
        if matrices:
            self.inner.append(torch.optim.Muon([view for _, view, _ in self.views], **muon_options))
            groups.append({**self.inner[-1].param_groups[0], "params": matrices})
        fallback_groups = [group for group in ({"params": rest}, {"params": kept, **(kept_out_options or {})})
                           if group["params"]]
        if fallback_groups:
            self.inner.append(fallback(fallback_groups))
            groups += [dict(group) for group in self.inner[-1].param_groups]
        # Muon's defaults: what OneCycleLR looks for to cycle momentum
        super().__init__(groups, {"momentum": muon_options.get("momentum", 0.95)})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for parameter in self.normalized:
            if parameter.grad is not None:
                parameter.mul_(math.sqrt(len(parameter)) / parameter.norm().clamp_min(1e-12))
        for parameter, view, channels_last in self.views:
            view.grad = None if parameter.grad is None else _as_matrix(parameter.grad, channels_last)
        inner_groups = [group for optimizer in self.inner for group in optimizer.param_groups]
        for group, inner in zip(self.param_groups, inner_groups, strict=True):
            inner.update({key: value for key, value in group.items() if key != "params" and key in inner})
        for optimizer in self.inner:
            optimizer.step()
        for _, view, _ in self.views:
            view.grad = None  # the gradient's memory is the model's to free
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "inner": [optimizer.state_dict() for optimizer in self.inner]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({key: value for key, value in state_dict.items() if key != "inner"})
        for optimizer, state in zip(self.inner, state_dict["inner"], strict=True):
            optimizer.load_state_dict(state)


def _matrix_view(parameter: nn.Parameter) -> tuple[torch.Tensor, bool] | None:
    """A 2-D view of the parameter's storage and whether its layout is channels-last; None when it has none."""
    channels_last = parameter.dim() == 4 and not parameter.is_contiguous() and parameter.is_contiguous(
        memory_format=torch.channels_last)
    try:
        view = _as_matrix(parameter.detach(), channels_last, copy=False)
    except RuntimeError:  # a layout no view reaches: the other optimizer takes it
        return None
    return view, channels_last


def _as_matrix(tensor: torch.Tensor, channels_last: bool, copy: bool = True) -> torch.Tensor:
    """out x everything else, the columns in memory order for channels-last (a copy when `copy` and needed)."""
    if channels_last:
        tensor = tensor.permute(0, 2, 3, 1)
    return tensor.reshape(len(tensor), -1) if copy else tensor.view(len(tensor), -1)
