"""The optimizer table: torch.optim classes by name, with torch's own parameter names."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from core.recipe.table import Entry, Named, Table

if TYPE_CHECKING:  # torch is imported when a table entry is built, so reading a config never loads it
    import torch
    from torch import nn


class OptimizerParams(Named):
    lr: float = Field(0.01, gt=0, le=10, description="learning rate (the schedule's peak)")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty (decoupled for adamw)")
    decay_bias_and_norm: bool = Field(True, description="false: no weight decay on biases and norm layers")


class SGDParams(OptimizerParams):
    momentum: float = Field(0.0, ge=0, lt=1)
    dampening: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "SGDParams":
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening 0")
        return self


class AdamParams(OptimizerParams):
    lr: float = Field(0.001, gt=0, le=10, description="learning rate (the schedule's peak)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="running averages of the gradient and its square")
    eps: float = Field(1e-8, gt=0, le=1)
    amsgrad: bool = False

    @model_validator(mode="after")
    def _betas_below_one(self) -> "AdamParams":
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError("betas must be in [0, 1)")
        return self


class AdamWParams(AdamParams):
    weight_decay: float = Field(0.01, ge=0, le=1, description="decoupled weight decay")


class RMSpropParams(OptimizerParams):
    alpha: float = Field(0.99, ge=0, lt=1, description="smoothing of the squared gradient")
    eps: float = Field(1e-8, gt=0, le=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    centered: bool = False


class AdagradParams(OptimizerParams):
    lr_decay: float = Field(0.0, ge=0)
    initial_accumulator_value: float = Field(0.0, ge=0)
    eps: float = Field(1e-10, gt=0, le=1)


class AdadeltaParams(OptimizerParams):
    lr: float = Field(1.0, gt=0, le=10, description="scales the computed step (torch's default 1.0)")
    rho: float = Field(0.9, ge=0, lt=1)
    eps: float = Field(1e-6, gt=0, le=1)


class MuonParams(OptimizerParams):
    lr: float = Field(0.02, gt=0, le=10, description="Muon's learning rate, for the weight matrices (the schedule's peak)")
    momentum: float = Field(0.95, ge=0, lt=1)
    nesterov: bool = True
    ns_steps: int = Field(5, ge=1, le=50, description="Newton-Schulz iterations orthogonalising each update")
    adjust_lr_fn: Literal["original", "match_rms_adamw"] = Field(
        "original", description="lr per matrix shape: Muon's own, or matching AdamW's update size")
    normalize: bool = Field(False, description="rescale each conv's filters to norm √out_channels before each step: "
                            "a conv that a norm layer follows ignores their scale, so lr stays one relative step")
    final_layer: Literal["muon", "others"] = Field(
        "muon", description="the last linear layer's weight (the classifier): orthogonalised by Muon, or stepped by "
                            "others, as Muon's authors advise for output layers")
    final_layer_lr: float | None = Field(None, gt=0, le=1000, description="its lr under others (default: others_lr)")
    final_layer_weight_decay: float | None = Field(
        None, ge=0, le=1, description="its weight decay under others (default: the rest's): with a small "
                                      "final_layer_lr the shared one decays it next to nothing")
    others: Literal["adamw", "sgd"] = Field("adamw", description="the optimizer of biases, norm layers and the rest")
    others_lr: float = Field(0.001, gt=0, le=1000, description="its learning rate (the schedule scales it as lr); "
                             "norm layers' shifts take large ones")
    others_momentum: float | None = Field(None, ge=0, lt=1, description="sgd's momentum for the rest (default: momentum)")

    @model_validator(mode="after")
    def _keys_that_apply(self) -> "MuonParams":
        for key in ("final_layer_lr", "final_layer_weight_decay"):
            if getattr(self, key) is not None and self.final_layer == "muon":
                raise ValueError(f"{key} is the classifier's under others: set final_layer: others, or remove {key}")
        if self.others_momentum is not None and self.others == "adamw":
            raise ValueError("others_momentum applies to others: sgd (adamw has betas); remove it or set others: sgd")
        return self


def param_groups(model: nn.Module, weight_decay: float, decay_bias_and_norm: bool) -> list[dict[str, Any]]:
    """The trainable parameters, split so biases and norm layers can skip weight decay."""
    if decay_bias_and_norm or weight_decay == 0:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    from torch import nn

    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if parameter.requires_grad:
                skip = isinstance(module, norm_types) or name == "bias"
                (no_decay if skip else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _factory(class_name: str):
    """Builds torch.optim's `class_name` (SGD, Adam, ...) on a model's parameter groups."""
    def build(model: nn.Module, params: OptimizerParams) -> torch.optim.Optimizer:
        import torch

        options = params.model_dump(exclude={"name", "decay_bias_and_norm"})
        groups = param_groups(model, options.pop("weight_decay"), params.decay_bias_and_norm)
        return getattr(torch.optim, class_name)(groups, **options)
    return build


def _muon(model: nn.Module, params: MuonParams) -> torch.optim.Optimizer:
    """torch's Muon on conv and linear weights (core/recipe/muon.py; final_layer: others keeps the last linear
    out), `others` on the rest."""
    import torch

    from core.recipe.muon import MuonWithFallback

    rest_decay = params.weight_decay if params.decay_bias_and_norm else 0.0

    def fallback(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        if params.others == "sgd":
            momentum = params.momentum if params.others_momentum is None else params.others_momentum
            return torch.optim.SGD(groups, lr=params.others_lr, momentum=momentum, weight_decay=rest_decay,
                                   nesterov=params.nesterov and momentum > 0)
        return torch.optim.AdamW(groups, lr=params.others_lr, weight_decay=rest_decay)

    options = params.model_dump(include={"lr", "weight_decay", "momentum", "nesterov", "ns_steps", "adjust_lr_fn"})
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    kept_out = linears[-1].weight if linears and params.final_layer == "others" else None
    kept_out_options = {key: value for key, value in (("lr", params.final_layer_lr),
                                                      ("weight_decay", params.final_layer_weight_decay))
                        if value is not None}
    return MuonWithFallback((p for p in model.parameters() if p.requires_grad), options, fallback,
                            normalize_filters=params.normalize, kept_out=kept_out, kept_out_options=kept_out_options)


OPTIMIZERS: Table["torch.optim.Optimizer", OptimizerParams] = Table("optimizer", "sgd", [
    Entry("sgd", SGDParams, _factory("SGD"), "stochastic gradient descent, optionally with (Nesterov) momentum"),
    Entry("adam", AdamParams, _factory("Adam"), "Adam: per-parameter steps from gradient moments"),
    Entry("adamw", AdamWParams, _factory("AdamW"), "Adam with decoupled weight decay"),
    Entry("rmsprop", RMSpropParams, _factory("RMSprop"), "RMSprop: steps scaled by a running RMS"),
    Entry("adagrad", AdagradParams, _factory("Adagrad"), "Adagrad: steps shrink with accumulated squares"),
    Entry("adadelta", AdadeltaParams, _factory("Adadelta"), "Adadelta: Adagrad without a decaying lr"),
    Entry("muon", MuonParams, _muon, "Muon: orthogonalised momentum for conv and linear weights, others for the rest"),
])
