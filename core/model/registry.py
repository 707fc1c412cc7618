"""The allowlist of layers a config may name, with typed params and their builders.

A layer name read from a file is only ever a key into `LAYERS`: it never reaches
getattr(torch.nn, ...), import or eval (the builders name their torch.nn class as a literal of the
table, imported when a layer is built, so reading a config never loads torch). Adding a layer is
one `LayerDef` in the table.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence, cast

from core.errors import ConfigError, ConfigIssue, KeyPath

if TYPE_CHECKING:  # torch is imported when a layer is built, so reading a config never loads it
    from torch import nn

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
        return {self.kind: {name: _plain(value) for name, value in self.params.items()}}


def _plain(value: Any) -> Any:
    """Tuples as lists, nested layer specs as entries."""
    if isinstance(value, (list, tuple)):
        return [item.to_entry() if isinstance(item, LayerSpec) else item for item in value]
    return value


@dataclass(frozen=True)
class ParamType:
    """What a param accepts, as a test and as words for error messages."""

    expects: str
    accepts: Callable[[Any], bool]
    nested: Callable[[Any, KeyPath], Any] | None = None  # parses a value at a key path (a layer list)

    def convert(self, value: Any) -> Any:
        """The value with [h, w] lists as tuples; ValueError when not accepted."""
        if not self.accepts(value):
            raise ValueError(self.expects)
        return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Param:
    """A layer param; `auto` names what 'auto' resolves to: channels, features, classes, shape or patches
    (2 x the input's patch size, channels x kernel area)."""

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
    return (value, value) if isinstance(value, int) else (value[0], value[1])


POSITIVE_INT = ParamType("a positive integer", lambda v: _is_int(v) and v >= 1)
AUTO_INT = ParamType("a positive integer or 'auto'", lambda v: v == "auto" or POSITIVE_INT.accepts(v))
SIZE = ParamType("a positive integer or [height, width]", lambda v: _int_or_pair(v, 1))
STRIDE_OR_NULL = ParamType("a positive integer, [height, width] or null (= kernel_size)",
                           lambda v: v is None or _int_or_pair(v, 1))
PADDING = ParamType("an integer >= 0 or [height, width]", lambda v: _int_or_pair(v, 0))
CONV_PADDING = ParamType("an integer >= 0, [height, width], 'same', 'valid' or 'full'",
                         lambda v: v in ("same", "valid", "full") or _int_or_pair(v, 0))
SIDES = ParamType("an integer >= 0 or [left, right, top, bottom]",
                  lambda v: (_is_int(v) and v >= 0) or (isinstance(v, (list, tuple)) and len(v) == 4
                                                         and all(_is_int(x) and x >= 0 for x in v)))
NORM_SHAPE = ParamType("'auto', a positive integer or a list of them (the trailing sizes to normalise)",
                       lambda v: v == "auto" or POSITIVE_INT.accepts(v) or (
                           isinstance(v, (list, tuple)) and 1 <= len(v) <= 3 and all(POSITIVE_INT.accepts(x) for x in v)))
PROBABILITY = ParamType("a number from 0 up to (not including) 1", lambda v: _is_number(v) and 0 <= v < 1)
BOOLEAN = ParamType("true or false", lambda v: isinstance(v, bool))
NUMBER = ParamType("a number", _is_number)
POSITIVE_NUMBER = ParamType("a number greater than 0", lambda v: _is_number(v) and v > 0)


def _parse_body(value: Any, path: KeyPath) -> tuple[LayerSpec, ...]:
    return tuple(parse_stack(value, path))


LAYER_LIST = ParamType("a list of layers", lambda v: isinstance(v, list) and len(v) > 0, nested=_parse_body)


def conv_padding(params: dict[str, Any]) -> tuple[int, int, int, int] | tuple[int, int]:
    """A conv2d's padding in numbers: (h, w), or (left, right, top, bottom) when 'same' is uneven."""
    padding = params["padding"]
    if not isinstance(padding, str):
        return as_pair(padding)
    totals = [d * (k - 1) for k, d in zip(as_pair(params["kernel_size"]), as_pair(params["dilation"]))]
    if padding == "valid":
        return (0, 0)
    if padding == "full":
        return (totals[0], totals[1])
    if all(total % 2 == 0 for total in totals):
        return (totals[0] // 2, totals[1] // 2)
    (top, left), (bottom, right) = ((t // 2 for t in totals), (t - t // 2 for t in totals))
    return (left, right, top, bottom)


def _nn(name: str, **fixed: Any) -> Callable[..., nn.Module]:
    """Builds torch.nn's class `name`, a literal of this table (never a name read from a file)."""
    def build(**params: Any) -> nn.Module:
        from torch import nn

        return getattr(nn, name)(**fixed, **params)
    return build


def _batchnorm(name: str) -> Callable[..., nn.Module]:
    """torch.nn's BatchNorm class `name`; with scale false its weight stays 1 (airbench's norm layers)."""
    def build(scale: bool, **params: Any) -> nn.Module:
        from torch import nn

        layer = getattr(nn, name)(**params)
        layer.weight.requires_grad_(scale)
        return layer
    return build


def _linear(zero_init: bool, **params: Any) -> nn.Module:
    from torch import nn

    layer = nn.Linear(**params)
    if zero_init:  # the classifier's random start would be noise on every logit until training outgrows it
        nn.init.zeros_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return layer


def _conv2d(padding: Any, **params: Any) -> nn.Module:
    """nn.Conv2d with numeric padding; an uneven 'same' gets an nn.ZeroPad2d in front."""
    from torch import nn

    numbers = conv_padding({"padding": padding, **params})
    if len(numbers) == 4:
        return nn.Sequential(nn.ZeroPad2d(numbers), nn.Conv2d(**params, padding=0))
    return nn.Conv2d(**params, padding=numbers)


def _residual(layers: Sequence[LayerSpec]) -> nn.Module:
    from torch import nn

    from core.model.modules import Residual

    return Residual(nn.Sequential(*(build_layer(spec) for spec in layers)))


def _whitening(**params: Any) -> nn.Module:
    from core.model.modules import PatchWhitening

    return PatchWhitening(**params)


def _check_conv(params: dict[str, Any]) -> dict[str, str]:
    if params["padding"] == "same" and as_pair(params["stride"]) != (1, 1):
        return {"padding": "padding 'same' needs stride 1; give the padding as a number"}
    return {}


def _check_transpose(params: dict[str, Any]) -> dict[str, str]:
    limit = [max(s, d) for s, d in zip(as_pair(params["stride"]), as_pair(params["dilation"]))]
    if any(p >= m for p, m in zip(as_pair(params["output_padding"]), limit)):
        return {"output_padding": "output_padding must be smaller than stride or dilation"}
    return {}


def _check_pool(params: dict[str, Any]) -> dict[str, str]:
    kernel, padding = as_pair(params["kernel_size"]), as_pair(params["padding"])
    if any(2 * p > k for p, k in zip(padding, kernel)):
        return {"padding": f"padding must be at most half of kernel_size, got {_show(params['padding'])}"}
    return {}


def _check_whitening(params: dict[str, Any]) -> dict[str, str]:
    if params["out_channels"] != "auto" and params["out_channels"] % 2:
        return {"out_channels": "out_channels must be even: each patch direction is used with both signs"}
    return {}


def _check_body(params: dict[str, Any]) -> dict[str, str]:
    if any(spec.kind == "linear" and spec.params["out_features"] == "auto" for spec in params["layers"]):
        return {"layers": "out_features: auto is not allowed inside a residual body (it must keep its input's size)"}
    return {}


def _conv_params(padding: ParamType, *extra: Param) -> tuple[Param, ...]:
    return (Param("in_channels", AUTO_INT, "auto", auto="channels"), Param("out_channels", POSITIVE_INT),
            Param("kernel_size", SIZE), Param("stride", SIZE, 1), Param("padding", padding, 0), *extra,
            Param("dilation", SIZE, 1), Param("groups", POSITIVE_INT, 1), Param("bias", BOOLEAN, True))


_POOL_PARAMS = (Param("kernel_size", SIZE), Param("stride", STRIDE_OR_NULL, None), Param("padding", PADDING, 0))
_PAD_PARAMS = (Param("padding", SIDES),)
_OUTPUT_SIZE = (Param("output_size", SIZE, 1),)
_P = (Param("p", PROBABILITY, 0.5),)
_BATCHNORM_PARAMS = (Param("num_features", AUTO_INT, "auto", auto="channels"), Param("momentum", PROBABILITY, 0.1),
                     Param("eps", POSITIVE_NUMBER, 1e-5), Param("scale", BOOLEAN, True))

LAYERS: dict[str, LayerDef] = {layer.name: layer for layer in (
    LayerDef("conv2d", "2-D convolution: out_channels learned filters of kernel_size slide over the image",
             _conv2d, _conv_params(CONV_PADDING), takes="image", check=_check_conv),
    LayerDef("convtranspose2d", "transposed convolution: upsamples the image (stride 2 doubles its size)",
             _nn("ConvTranspose2d"), _conv_params(PADDING, Param("output_padding", PADDING, 0)), takes="image",
             check=_check_transpose),
    LayerDef("whitening", "a conv2d whose filters whiten the training images' kernel_size patches (set before "
             "training; frozen unless freeze: false)",
             _whitening, (Param("in_channels", AUTO_INT, "auto", auto="channels"),
                          Param("out_channels", AUTO_INT, "auto", auto="patches"), Param("kernel_size", SIZE, 2),
                          Param("padding", PADDING, 0), Param("eps", POSITIVE_NUMBER, 5e-4),
                          Param("freeze", BOOLEAN, True), Param("bias", BOOLEAN, True)),
             takes="image", check=_check_whitening),
    LayerDef("maxpool2d", "max pooling: keeps the largest value of each kernel_size window",
             _nn("MaxPool2d"), _POOL_PARAMS + (Param("dilation", SIZE, 1), Param("ceil_mode", BOOLEAN, False)),
             takes="image", check=_check_pool),
    LayerDef("avgpool2d", "average pooling: averages each kernel_size window",
             _nn("AvgPool2d"), _POOL_PARAMS + (Param("ceil_mode", BOOLEAN, False),
                                              Param("count_include_pad", BOOLEAN, True)),
             takes="image", check=_check_pool),
    LayerDef("adaptiveavgpool2d", "average pooling to a fixed output_size, whatever the image size",
             _nn("AdaptiveAvgPool2d"), _OUTPUT_SIZE, takes="image"),
    LayerDef("adaptivemaxpool2d", "max pooling to a fixed output_size, whatever the image size",
             _nn("AdaptiveMaxPool2d"), _OUTPUT_SIZE, takes="image"),
    LayerDef("zeropad2d", "pads the image border with zeros", _nn("ZeroPad2d"), _PAD_PARAMS, takes="image"),
    LayerDef("reflectionpad2d", "pads the image border by mirroring it", _nn("ReflectionPad2d"), _PAD_PARAMS,
             takes="image"),
    LayerDef("replicationpad2d", "pads the image border by repeating the edge pixels", _nn("ReplicationPad2d"),
             _PAD_PARAMS, takes="image"),
    LayerDef("batchnorm2d", "batch normalisation of each channel (scale: false keeps the scale at 1, learning "
             "only the shift)", _batchnorm("BatchNorm2d"), _BATCHNORM_PARAMS, takes="image", keeps_shape=True),
    LayerDef("batchnorm1d", "batch normalisation of each feature (scale: false keeps the scale at 1, learning "
             "only the shift)", _batchnorm("BatchNorm1d"), _BATCHNORM_PARAMS, takes="features", keeps_shape=True),
    LayerDef("groupnorm", "normalises groups of channels per image (works with small batches)",
             _nn("GroupNorm"),
             (Param("num_groups", POSITIVE_INT), Param("num_channels", AUTO_INT, "auto", auto="channels")),
             takes="image", keeps_shape=True),
    LayerDef("layernorm", "normalises each sample over its trailing sizes (auto: all of them)",
             _nn("LayerNorm"), (Param("normalized_shape", NORM_SHAPE, "auto", auto="shape"),
                            Param("elementwise_affine", BOOLEAN, True)), keeps_shape=True),
    LayerDef("relu", "ReLU activation: max(0, x)", _nn("ReLU"), keeps_shape=True),
    LayerDef("leakyrelu", "leaky ReLU: x, or negative_slope * x below 0",
             _nn("LeakyReLU"), (Param("negative_slope", NUMBER, 0.01),), keeps_shape=True),
    LayerDef("elu", "ELU activation: x, or alpha * (exp(x) - 1) below 0",
             _nn("ELU"), (Param("alpha", POSITIVE_NUMBER, 1.0),), keeps_shape=True),
    LayerDef("gelu", "GELU activation (smooth ReLU)", _nn("GELU"), keeps_shape=True),
    LayerDef("silu", "SiLU (swish) activation: x * sigmoid(x)", _nn("SiLU"), keeps_shape=True),
    LayerDef("sigmoid", "sigmoid activation: squashes to (0, 1)", _nn("Sigmoid"), keeps_shape=True),
    LayerDef("tanh", "tanh activation: squashes to (-1, 1)", _nn("Tanh"), keeps_shape=True),
    LayerDef("softmax", "softmax over channels or features (the loss already applies it: rarely needed)",
             _nn("Softmax", dim=1), keeps_shape=True),
    LayerDef("logsoftmax", "log of softmax over channels or features: the model's last layer for loss nll",
             _nn("LogSoftmax", dim=1), keeps_shape=True),
    LayerDef("dropout", "zeroes each value with probability p while training", _nn("Dropout"), _P, keeps_shape=True),
    LayerDef("dropout2d", "zeroes whole channels with probability p while training",
             _nn("Dropout2d"), _P, takes="image", keeps_shape=True),
    LayerDef("flatten", "flattens a channels x height x width feature map into features", _nn("Flatten")),
    LayerDef("linear", "fully connected layer: in_features to out_features (zero_init: its weights start at 0, "
             "a classifier that starts out undecided)",
             _linear, (Param("in_features", AUTO_INT, "auto", auto="features"),
                       Param("out_features", AUTO_INT, auto="classes"), Param("bias", BOOLEAN, True),
                       Param("zero_init", BOOLEAN, False)),
             takes="features"),
    LayerDef("identity", "passes its input through unchanged", _nn("Identity"), keeps_shape=True),
    LayerDef("residual", "a skip connection: output = layers(x) + x; the layers must keep the shape",
             _residual, (Param("layers", LAYER_LIST),), check=_check_body),
)}

AUTO_OUTPUTS_RULE = "out_features: auto (the number of classes) is allowed only on the last linear"


def layer_names() -> list[str]:
    """Every allowed layer name, in table order."""
    return list(LAYERS)


def describe(kind: str) -> str:
    """The one-line description of a layer, for an editor to show."""
    return LAYERS[kind].description


def layer_label(spec: LayerSpec) -> str:
    """A short label: the kind and the params that differ from their defaults, e.g. 'conv2d(out_channels=32, ...)'.

    A kind outside the registry (a torchvision or user module's part) is its own label.
    """
    if spec.kind not in LAYERS:
        return spec.kind
    if spec.kind == "residual":
        return f"residual({len(spec.params['layers'])} layers)"
    changed = [f"{param.name}={_show(spec.params[param.name]).strip(chr(39))}"
               for param in LAYERS[spec.kind].params if spec.params[param.name] != param.default]
    return f"{spec.kind}({', '.join(changed)})" if changed else spec.kind


def build_layer(spec: LayerSpec) -> nn.Module:
    """The nn.Module for a resolved spec (no 'auto' left), on torch's current default device."""
    return LAYERS[spec.kind].build(**spec.params)


def misplaced_auto_outputs(specs: Sequence[LayerSpec | None]) -> list[int]:
    """Indices of linears with out_features 'auto' that are not the stack's last linear."""
    linears = [(i, spec) for i, spec in enumerate(specs) if spec is not None and spec.kind == "linear"]
    return [i for i, spec in linears[:-1] if spec.params["out_features"] == "auto"]


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
    return cast(list[LayerSpec], specs)  # no issues: every entry parsed


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
        if param.type.nested and param.type.accepts(raw[param.name]):
            try:
                params[param.name] = param.type.nested(raw[param.name], path + (param.name,))
            except ConfigError as exc:
                issues += exc.issues
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
    index = issue.path[depth] if len(issue.path) > depth else None
    return index if isinstance(index, int) else -1  # an issue with the whole list sorts first


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML: 'five', 5, [5, 5], null, true."""
    if isinstance(value, str):
        return f"'{value}'"
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)
