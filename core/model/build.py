"""The one way from a model config to a model: the engine, `check` and checkpoint rebuilds all use it.

A model's plain spec (stored in checkpoints, loadable with weights_only=True) mirrors the config:
  {"layers": [resolved entries], "input_shape": [C, H, W]}
  {"torchvision": {"name": ..., "freeze_backbone": ..., "append": [resolved entries]}, "input_shape": [...]}
  {"module": "package.module:Class", "module_args": {...}, "input_shape": [...]}
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from core.errors import ShapeError, WorkbenchError
from core.model import vision
from core.model.probe import probe_module
from core.model.registry import build_layer, parse_stack
from core.model.stack import StackReport, build_model, check_stack, describe_fix, with_budget
from core.model.user import construct_user

if TYPE_CHECKING:
    from core.config import LayerEntry, ModelConfig, TorchvisionModel

Plan = tuple[StackReport, dict[str, Any]]
APPEND_PATH = ("model", "torchvision", "append")


def check_for(model: "ModelConfig", input_shape: Sequence[int], num_classes: int, batch_size: int = 1) -> StackReport:
    """The layer table for a model config, with shape and budget problems in report.error; nothing is allocated."""
    return plan_for(model, input_shape, num_classes, batch_size)[0]


def plan_for(model: "ModelConfig", input_shape: Sequence[int], num_classes: int, batch_size: int = 1) -> Plan:
    """check_for's report and the plain spec the model would be built from (valid when the report is ok)."""
    return _plan(model, tuple(input_shape), num_classes, batch_size)


def build_for(model: "ModelConfig", input_shape: Sequence[int], num_classes: int,
              batch_size: int = 1) -> tuple[nn.Module, dict[str, Any]]:
    """The CPU model (weights loaded for torchvision) and its plain spec; raises ShapeError or WorkbenchError."""
    report, plain = _plan(model, tuple(input_shape), num_classes, batch_size)
    if report.error:
        raise report.error
    weights = model.torchvision.weights if model.torchvision else "none"
    return _from_plain(plain, num_classes, weights), plain


def error_at(model: "ModelConfig", built_for: Sequence[int], input_shape: Sequence[int],
             num_classes: int) -> ShapeError | WorkbenchError | None:
    """Why the model, its sizes resolved for `built_for`, cannot take `input_shape` too (training crops); None if it can."""
    report, plain = _plan(model, tuple(built_for), num_classes, 1)
    if report.error:
        return report.error
    if "layers" in plain:
        return check_stack(parse_stack(plain["layers"]), tuple(input_shape), num_classes).error
    with torch.device("meta"):
        net = (_torchvision_model(plain["torchvision"], num_classes, "none") if "torchvision" in plain
               else construct_user(plain["module"], plain["module_args"], num_classes))
    return probe_module(net, tuple(input_shape), num_classes).error


def rebuild(plain: dict[str, Any], num_classes: int, *, allow_user_code: bool = False) -> nn.Module:
    """The architecture of a plain spec (random weights, CPU). A `module` spec imports user code: opt in."""
    if "module" in plain and not allow_user_code:
        raise WorkbenchError(f"this model is your own code ({plain['module']}); rebuilding it imports and runs that "
                             "code, so it needs allow_user_code=True")
    return _from_plain(plain, num_classes, "none")


def fix_text(model: "ModelConfig", error: ShapeError) -> str | None:
    """A ShapeError's fix as 'set model.layers[7].linear.in_features: 4096', or None."""
    if not error.fix:
        return None
    if model.layers is not None:
        return describe_fix(parse_stack(model.layers), error.fix)
    if model.torchvision is not None:
        return describe_fix(parse_stack(model.torchvision.append, APPEND_PATH), error.fix, APPEND_PATH)
    return None


def _plan(model: "ModelConfig", input_shape: tuple[int, ...], num_classes: int, batch_size: int) -> Plan:
    if model.layers is not None:
        report, plain = _plan_layers(model.layers, input_shape, num_classes)
    elif model.torchvision is not None:
        report, plain = _plan_torchvision(model.torchvision, input_shape, num_classes)
    else:
        assert model.module is not None  # ModelConfig allows exactly one of the three
        report, plain = _plan_module(model.module, model.module_args, input_shape, num_classes)
    budget = model.budget
    report = with_budget(report, budget.max_parameters, int(budget.max_activation_mb * 2**20), batch_size)
    return report, {**plain, "input_shape": list(input_shape)}


def _plan_layers(layers: list[LayerEntry], input_shape: tuple[int, ...], num_classes: int) -> Plan:
    report = check_stack(parse_stack(layers), input_shape, num_classes)
    return report, {"layers": [row.spec.to_entry() for row in report.rows]}


def _plan_torchvision(options: TorchvisionModel, input_shape: tuple[int, ...], num_classes: int) -> Plan:
    append = parse_stack(options.append, APPEND_PATH)
    with torch.device("meta"):
        net = vision.construct(options.name)
    _, head = vision.find_head(net)
    if append and not isinstance(head, nn.Linear):
        raise WorkbenchError(f"model.torchvision.append needs a linear head, but {options.name}'s is a convolution")
    if append:
        head_report = check_stack(append, (vision.head_inputs(head),), num_classes)
        if head_report.error:
            return head_report, {}
        append = [row.spec for row in head_report.rows]
    plain = {"torchvision": {"name": options.name, "freeze_backbone": options.freeze_backbone,
                             "append": [spec.to_entry() for spec in append]}}
    with torch.device("meta"):
        net = _torchvision_model(plain["torchvision"], num_classes, "none")
    report = probe_module(net, input_shape, num_classes)
    return replace(report, warnings=report.warnings + _weights_warnings(options.name, options.weights)), plain


def _plan_module(module: str, module_args: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> Plan:
    with torch.device("meta"):
        net = construct_user(module, module_args, num_classes)
    report = probe_module(net, input_shape, num_classes)
    warning = f"model.module runs your own code: {module} is imported and executed"
    return replace(report, warnings=[warning, *report.warnings]), {"module": module, "module_args": dict(module_args)}


def _from_plain(plain: dict[str, Any], num_classes: int, weights: str) -> nn.Module:
    with torch.device("cpu"):
        if "layers" in plain:
            return build_model(parse_stack(plain["layers"]), tuple(plain["input_shape"]), num_classes)[0]
        if "torchvision" in plain:
            return _torchvision_model(plain["torchvision"], num_classes, weights)
        if "module" in plain:
            return construct_user(plain["module"], plain.get("module_args", {}), num_classes)
    raise WorkbenchError("the model spec names no layers, torchvision model or module")


def _torchvision_model(options: dict[str, Any], num_classes: int, weights: str) -> nn.Module:
    """torchvision's model with `weights`, the backbone optionally frozen, the head replaced."""
    net = vision.construct(options["name"])
    vision.load_weights(net, options["name"], weights)
    if options.get("freeze_backbone"):
        vision.freeze(net)
    path, head = vision.find_head(net)
    append = parse_stack(options.get("append", []), APPEND_PATH)
    new = nn.Sequential(*(build_layer(spec) for spec in append)) if append else vision.new_head(head, num_classes)
    vision.replace_module(net, path, new)
    return net


def _weights_warnings(name: str, weights: str) -> list[str]:
    """A note that default weights will be downloaded; a missing local file is an error now, not later."""
    if weights not in ("none", "default"):
        vision.check_weights_file(Path(weights))
    if weights != "default" or vision.cached_weights_path(name).is_file():
        return []
    return [f"weights: default downloads {vision.default_weights_url(name)} on first use "
            f"(into {vision.cached_weights_path(name)})"]

