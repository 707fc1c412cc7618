"""The loss table: a criterion by name, called as loss(logits, labels) -> mean loss.

L1 and MSE compare the model's softmax probabilities (or, with `outputs: raw`, its outputs as the
tutorial's examples do) with one-hot targets;
nll expects log-probabilities (end the model with a log_softmax layer).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Union

from pydantic import Field, field_validator

from core.errors import ConfigError, ConfigIssue
from core.recipe.table import Entry, Named, Table

if TYPE_CHECKING:  # torch is imported when a loss is built, so reading a config never loads it
    import torch
    from torch import nn

ClassWeights = Union[Literal["auto"], dict[str, float], list[float], None]


class WeightedParams(Named):
    class_weights: ClassWeights = Field(
        None, description="auto (inverse class frequency), {class: weight} or one weight per class")

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, weights: ClassWeights) -> ClassWeights:
        values = weights.values() if isinstance(weights, dict) else weights if isinstance(weights, list) else ()
        if any(not 0 < w <= 1e6 for w in values):
            raise ValueError("class weights must be greater than 0 and at most 1e6")
        return weights


class CrossEntropyParams(WeightedParams):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="mix this much of the uniform distribution into targets")


class OneHotParams(Named):
    outputs: Literal["probabilities", "raw"] = Field(
        "probabilities", description="compare softmax probabilities (learns far better) or the raw outputs")


def class_weight_tensor(weights: ClassWeights, counts: list[int], classes: list[str]) -> torch.Tensor | None:
    """Weights in class order: `auto` is N / (K * count), the balanced inverse frequency."""
    import torch

    if weights is None:
        return None
    if weights == "auto":
        total = sum(counts)
        return torch.tensor([total / (len(counts) * max(count, 1)) for count in counts])
    if isinstance(weights, list):
        if len(weights) != len(classes):
            raise _weights_error(f"{len(weights)} class weights for {len(classes)} classes",
                                 f"give them in class order: {', '.join(classes)}")
        return torch.tensor(weights, dtype=torch.float32)
    unknown = sorted(set(weights) - set(classes))
    if unknown:
        raise _weights_error(f"no class named {', '.join(map(repr, unknown))}", f"the classes are {', '.join(classes)}")
    return torch.tensor([float(weights.get(name, 1.0)) for name in classes])


def _weights_error(message: str, hint: str) -> ConfigError:
    return ConfigError([ConfigIssue(("train", "loss", "class_weights"), message, hint)])


def _one_hot(function: str):
    """Builds a OneHotLoss around torch.nn.functional's `function` (l1_loss, mse_loss)."""
    def build(params: OneHotParams, counts: list[int], classes: list[str]) -> nn.Module:
        import torch.nn.functional as F

        from core.recipe.one_hot_loss import OneHotLoss

        return OneHotLoss(getattr(F, function), params.outputs != "raw")
    return build


def _cross_entropy(params: CrossEntropyParams, counts: list[int], classes: list[str]) -> nn.Module:
    from torch import nn

    weight = class_weight_tensor(params.class_weights, counts, classes)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=params.label_smoothing)


def _nll(params: WeightedParams, counts: list[int], classes: list[str]) -> nn.Module:
    from torch import nn

    return nn.NLLLoss(weight=class_weight_tensor(params.class_weights, counts, classes))


def last_layer_warning(loss: str, last_layer: str) -> str | None:
    """nll reads the outputs as log-probabilities: after any other last layer it trains without an error, towards
    a loss below zero and a model that learns nothing useful."""
    if loss == "nll" and last_layer != "logsoftmax":
        return (f"loss nll expects log-probabilities, but the model ends with {last_layer}: add logsoftmax as the "
                "last layer, or use loss cross_entropy (it applies log_softmax itself)")
    return None


LOSSES: Table["nn.Module", Named] = Table("loss", "cross_entropy", [
    Entry("cross_entropy", CrossEntropyParams, _cross_entropy,
          "softmax cross-entropy (nn.CrossEntropyLoss), optional label smoothing and class weights"),
    Entry("nll", WeightedParams, _nll, "negative log-likelihood of log-probabilities (after log_softmax)"),
    Entry("l1", OneHotParams, _one_hot("l1_loss"),
          "mean absolute error against one-hot targets (nn.L1Loss)"),
    Entry("mse", OneHotParams, _one_hot("mse_loss"),
          "mean squared error against one-hot targets (nn.MSELoss)"),
])
