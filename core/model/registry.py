"""The allowlist of layers a config may name, with typed params and their builders.

A layer name read from a file is only ever a key into `LAYERS`: it never reaches
getattr(torch.nn, ...), import or eval. Adding a layer is one `LayerDef` in the table.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

from torch import nn

from core.errors import ConfigError, ConfigIssue, KeyPath

REQUIRED = object()


@dataclass(frozen=True)
class LayerSpec:
    """One validated layer: its registry name and every param (defaults filled in)."""

    kind: str
    params: dict[str, Any]

    def to_entry(self) -> str | dict[str, dict[str, Any]]:
        """Plain YAML-able data: 'relu', or {kind: {param: value}} with tuples as lists."""
        if not self.params:
            return self.kind
        return {self.kind: {name: list(v) if isinstance(v, tuple) else v for name, v in self.params.items()}}


@dataclass(frozen=True)
class ParamType:
    """What a param accepts, as a test and as words for error messages."""

    expects: str
    accepts: Callable[[Any], bool]

    def convert(self, value: Any) -> Any:
        """The value with [h, w] lists as tuples; ValueError when not accepted."""
        if not self.accepts(value):
            raise ValueError(self.expects)
        return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Param:
    """A layer param; `auto` names what 'auto' resolves to: channels, features or classes."""

    name: str
    type: ParamType
    default: Any = REQUIRED
    auto: str | None = None


@dataclass(frozen=True)
class LayerDef:
    """One allowed layer; `takes` is 'image' (C x H x W), 'features' (1-D) or 'any'.

    `keeps_shape` layers (output shape = input shape) skip the meta forward, which is slow for them.
    """

    name: str
    description: str
    build: Callable[..., nn.Module]
    params: tuple[Param, ...] = ()
    takes: str = "any"
    keeps_shape: bool = False
    check: Callable[[dict[str, Any]], dict[str, str]] | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_or_pair(value: Any, low: int) -> bool:
    if isinstance(value, (list, tuple)):
        return len(value) == 2 and all(_is_int(v) and v >= low for v in value)
    return _is_int(value) and value >= low


def as_pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """5 -> (5, 5); [5, 3] -> (5, 3)."""
    return (value, value) if isinstance(value, int) else tuple(value)


POSITIVE_INT = ParamType("a positive integer", lambda v: _is_int(v) and v >= 1)
AUTO_INT = ParamType("a positive integer or 'auto'", lambda v: v == "auto" or POSITIVE_INT.accepts(v))
SIZE = ParamType("a positive integer or [height, width]", lambda v: _int_or_pair(v, 1))
STRIDE_OR_NULL = ParamType("a positive integer, [height, width] or null (= kernel_size)",
                           lambda v: v is None or _int_or_pair(v, 1))
PADDING = ParamType("an integer >= 0 or [height, width]", lambda v: _int_or_pair(v, 0))
CONV_PADDING = ParamType("an integer >= 0, [height, width], 'same' or 'valid'",
                         lambda v: v in ("same", "valid") or _int_or_pair(v, 0))
PROBABILITY = ParamType("a number from 0 up to (not including) 1", lambda v: _is_number(v) and 0 <= v < 1)
BOOLEAN = ParamType("true or false", lambda v: isinstance(v, bool))
NUMBER = ParamType("a number", _is_number)


def _check_conv(params: dict[str, Any]) -> dict[str, str]:
    if params["padding"] == "same" and as_pair(params["stride"]) != (1, 1):
        return {"padding": "padding 'same' needs stride 1; give the padding as a number"}
    return {}


def _check_pool(params: dict[str, Any]) -> dict[str, str]:
    kernel, padding = as_pair(params["kernel_size"]), as_pair(params["padding"])
    if any(2 * p > k for p, k in zip(padding, kernel)):
        return {"padding": f"padding must be at most half of kernel_size, got {_show(params['padding'])}"}
    return {}


_POOL_PARAMS = (Param("kernel_size", SIZE), Param("stride", STRIDE_OR_NULL, None), Param("padding", PADDING, 0))

LAYERS: dict[str, LayerDef] = {layer.name: layer for layer in (
    LayerDef("conv2d", "2-D convolution: out_channels learned filters of kernel_size slide over the image",
             nn.Conv2d, (Param("in_channels", AUTO_INT, "auto", auto="channels"), Param("out_channels", POSITIVE_INT),
                         Param("kernel_size", SIZE), Param("stride", SIZE, 1), Param("padding", CONV_PADDING, 0),
                         Param("bias", BOOLEAN, True)), takes="image", check=_check_conv),
    LayerDef("maxpool2d", "max pooling: keeps the largest value of each kernel_size window",
             nn.MaxPool2d, _POOL_PARAMS, takes="image", check=_check_pool),
    LayerDef("avgpool2d", "average pooling: averages each kernel_size window",
             nn.AvgPool2d, _POOL_PARAMS, takes="image", check=_check_pool),
    LayerDef("batchnorm2d", "batch normalisation of each channel",
             nn.BatchNorm2d, (Param("num_features", AUTO_INT, "auto", auto="channels"),), takes="image",
             keeps_shape=True),
    LayerDef("relu", "ReLU activation: max(0, x)", nn.ReLU, keeps_shape=True),
    LayerDef("leakyrelu", "leaky ReLU: x, or negative_slope * x below 0",
             nn.LeakyReLU, (Param("negative_slope", NUMBER, 0.01),), keeps_shape=True),
    LayerDef("gelu", "GELU activation (smooth ReLU)", nn.GELU, keeps_shape=True),
    LayerDef("sigmoid", "sigmoid activation: squashes to (0, 1)", nn.Sigmoid, keeps_shape=True),
    LayerDef("tanh", "tanh activation: squashes to (-1, 1)", nn.Tanh, keeps_shape=True),
    LayerDef("softmax", "softmax over channels or features (the loss already applies it: rarely needed)",
             partial(nn.Softmax, dim=1), keeps_shape=True),
    LayerDef("dropout", "zeroes each value with probability p while training",
             nn.Dropout, (Param("p", PROBABILITY, 0.5),), keeps_shape=True),
    LayerDef("dropout2d", "zeroes whole channels with probability p while training",
             nn.Dropout2d, (Param("p", PROBABILITY, 0.5),), takes="image", keeps_shape=True),
    LayerDef("flatten", "flattens a channels x height x width feature map into features", nn.Flatten),
    LayerDef("linear", "fully connected layer: in_features to out_features",
             nn.Linear, (Param("in_features", AUTO_INT, "auto", auto="features"),
                         Param("out_features", AUTO_INT, auto="classes"), Param("bias", BOOLEAN, True)),
             takes="features"),
    LayerDef("identity", "passes its input through unchanged", nn.Identity, keeps_shape=True),
)}

AUTO_OUTPUTS_RULE = "out_features: auto (the number of classes) is allowed only on the last linear"


def layer_names() -> list[str]:
    """Every allowed layer name, in table order."""
    return list(LAYERS)


def describe(kind: str) -> str:
    """The one-line description of a layer, for an editor to show."""
    return LAYERS[kind].description


def layer_label(spec: LayerSpec) -> str:
    """A short label: the kind and the params that differ from their defaults, e.g. 'conv2d(out_channels=32, ...)'."""
    changed = [f"{param.name}={_show(spec.params[param.name]).strip(chr(39))}"
               for param in LAYERS[spec.kind].params if spec.params[param.name] != param.default]
    return f"{spec.kind}({', '.join(changed)})" if changed else spec.kind


def build_layer(spec: LayerSpec) -> nn.Module:
    """The nn.Module for a resolved spec (no 'auto' left), on torch's current default device."""
    return LAYERS[spec.kind].build(**spec.params)


def misplaced_auto_outputs(specs: Sequence[LayerSpec | None]) -> list[int]:
    """Indices of linears with out_features 'auto' that are not the stack's last linear."""
    linears = [i for i, spec in enumerate(specs) if spec is not None and spec.kind == "linear"]
    return [i for i in linears[:-1] if specs[i].params["out_features"] == "auto"]


def parse_stack(entries: list, path: KeyPath = ("model", "layers")) -> list[LayerSpec]:
    """Validate layer entries; raise ConfigError listing every problem, each at its full key path."""
    if not isinstance(entries, list):
        raise ConfigError([ConfigIssue(path, f"must be a list of layers, got {_show(entries)}")])
    specs: list[LayerSpec | None] = []
    issues: list[ConfigIssue] = []
    for index, entry in enumerate(entries):
        try:
            specs.append(parse_layer(entry, path + (index,)))
        except ConfigError as exc:
            specs.append(None)
            issues += exc.issues
    for index in misplaced_auto_outputs(specs):
        issues.append(ConfigIssue(path + (index, "linear", "out_features"), AUTO_OUTPUTS_RULE,
                                  hint="give this linear's out_features as a number"))
    if issues:
        raise ConfigError(sorted(issues, key=lambda issue: _entry_index(issue, len(path))))
    return specs


def parse_layer(entry: Any, path: KeyPath) -> LayerSpec:
    """Validate one entry ('relu', {'relu': None}, {'conv2d': {...}}) at key path `path`."""
    kind, raw_params = _split_entry(entry, path)
    layer = LAYERS.get(kind) if isinstance(kind, str) else None
    if layer is None:
        raise ConfigError([ConfigIssue(path, f"unknown layer {_show(kind)}", _suggest(str(kind).lower(), layer_names()))])
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        message = f"the params of {kind} must be a mapping of name: value, got {_show(raw_params)}"
        raise ConfigError([ConfigIssue(path + (kind,), message, _takes(layer))])
    params, issues = _parse_params(layer, raw_params, path + (kind,))
    if not issues and layer.check:
        issues = [ConfigIssue(path + (kind, name), message) for name, message in layer.check(params).items()]
    if issues:
        raise ConfigError(issues)
    return LayerSpec(kind, params)


def _split_entry(entry: Any, path: KeyPath) -> tuple[Any, Any]:
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry.items()))
    got = _show(entry)
    if isinstance(entry, dict):
        got = f"a mapping with {len(entry)} keys ({', '.join(map(str, entry))})" if entry else "an empty mapping"
    message = f"a layer entry must be a layer name or a mapping with one layer name, got {got}"
    hint = "e.g. - relu  or  - conv2d: {out_channels: 32, kernel_size: 5}; put each layer in its own list item"
    raise ConfigError([ConfigIssue(path, message, hint)])


def _parse_params(layer: LayerDef, raw: dict, path: KeyPath) -> tuple[dict[str, Any], list[ConfigIssue]]:
    known = [param.name for param in layer.params]
    issues = [ConfigIssue(path + (name,), f"unknown param {_show(name)} for {layer.name}",
                          _suggest(str(name), known) if known else f"{layer.name} takes no params")
              for name in raw if name not in known]
    params: dict[str, Any] = {}
    for param in layer.params:
        if param.name not in raw:
            if param.default is REQUIRED:
                issues.append(ConfigIssue(path + (param.name,), f"{param.name} is required ({param.type.expects})"))
            params[param.name] = param.default
            continue
        try:
            params[param.name] = param.type.convert(raw[param.name])
        except ValueError:
            message = f"{param.name} must be {param.type.expects}, got {_show(raw[param.name])}"
            issues.append(ConfigIssue(path + (param.name,), message))
    return params, issues


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"valid names: {', '.join(valid)}"


def _takes(layer: LayerDef) -> str:
    if not layer.params:
        return f"{layer.name} takes no params"
    return f"{layer.name} takes: {', '.join(param.name for param in layer.params)}"


def _entry_index(issue: ConfigIssue, depth: int) -> int:
    return issue.path[depth] if len(issue.path) > depth else -1


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML: 'five', 5, [5, 5], null, true."""
    if isinstance(value, str):
        return f"'{value}'"
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)
