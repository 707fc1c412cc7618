"""Shape inference for a layer stack on the meta device: nothing is allocated or computed.

Shapes exclude the batch dimension: an RGB 32 x 32 image is (3, 32, 32), a flat vector (4096,).
A ShapeError's `fix` is {'layer_index': i, 'set': {param: value}}, or for a layer inside a
residual body {'layer_index': i, 'body': <the fix inside the body>}; `apply_fix` applies it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import gcd
from typing import Any, Sequence

import torch
from torch import nn

from core.errors import KeyPath, ShapeError, format_key_path
from core.model.metrics import activation_bytes, module_mult_adds, parameter_counts
from core.model.registry import (AUTO_OUTPUTS_RULE, LAYERS, LayerSpec, as_pair, build_layer,
                                 misplaced_auto_outputs)

Shape = tuple[int, ...]
ACTIVATIONS = {"relu", "leakyrelu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax"}
_BETWEEN_LINEARS = {"dropout", "identity", "batchnorm1d", "layernorm", "flatten"}  # not a non-linearity


@dataclass(frozen=True)
class LayerRow:
    """One layer as checked: its resolved spec (no 'auto' left), shapes and costs for one sample.

    `parameters` = trainable + frozen; `body` holds a residual block's own rows.
    """

    index: int
    spec: LayerSpec
    input_shape: Shape
    output_shape: Shape
    parameters: int
    trainable: int = 0
    frozen: int = 0
    mult_adds: int = 0
    activation_bytes: int = 0
    body: tuple["LayerRow", ...] = ()


@dataclass(frozen=True)
class StackReport:
    """The rows up to the first failing layer (all rows if only the final output is wrong) and the error."""

    input_shape: Shape
    rows: list[LayerRow]
    error: ShapeError | None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape:
        """The output of the last checked row (the input shape when there is none)."""
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def total_parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    @property
    def total_trainable(self) -> int:
        return sum(row.trainable for row in self.rows)

    @property
    def total_frozen(self) -> int:
        return sum(row.frozen for row in self.rows)

    @property
    def total_mult_adds(self) -> int:
        return sum(row.mult_adds for row in self.rows)

    @property
    def total_activation_bytes(self) -> int:
        return sum(row.activation_bytes for row in self.rows)


class BudgetError(ShapeError):
    """A model bigger than model.budget allows, refused before anything is allocated."""


def format_shape(shape: Sequence[int]) -> str:
    """(64, 8, 8) -> '64 x 8 x 8'."""
    return " x ".join(str(size) for size in shape)


def check_stack(specs: Sequence[LayerSpec], input_shape: Sequence[int], num_classes: int) -> StackReport:
    """Infer every layer's shapes and resolve 'auto'; a shape problem becomes report.error, never raised."""
    rows: list[LayerRow] = []
    try:
        _check_layers(specs, tuple(input_shape), num_classes, rows, set(misplaced_auto_outputs(specs)))
        _check_output(specs, rows[-1].output_shape if rows else tuple(input_shape), num_classes)
    except ShapeError as error:
        return StackReport(tuple(input_shape), rows, error, stack_warnings(rows))
    return StackReport(tuple(input_shape), rows, None, stack_warnings(rows))


def build_model(specs: Sequence[LayerSpec], input_shape: Sequence[int], num_classes: int) -> tuple[nn.Sequential, list[LayerSpec]]:
    """A CPU nn.Sequential and the resolved specs, which rebuild the same architecture; raises ShapeError."""
    report = check_stack(specs, input_shape, num_classes)
    if report.error:
        raise report.error
    resolved = [row.spec for row in report.rows]
    with torch.device("cpu"):
        return nn.Sequential(*(build_layer(spec) for spec in resolved)), resolved


def apply_fix(specs: Sequence[LayerSpec], fix: dict[str, Any]) -> list[LayerSpec]:
    """The specs with a ShapeError.fix applied (see the module docstring)."""
    index = fix["layer_index"]
    return [_fixed(spec, fix) if i == index else spec for i, spec in enumerate(specs)]


def describe_fix(specs: Sequence[LayerSpec], fix: dict[str, Any], path: KeyPath = ("model", "layers")) -> str:
    """A fix in words: 'set model.layers[7].linear.in_features: 4096'."""
    spec = specs[fix["layer_index"]]
    where = path + (fix["layer_index"], spec.kind)
    if "body" in fix:
        return describe_fix(spec.params["layers"], fix["body"], where + ("layers",))
    return "; ".join(f"set {format_key_path(where + (name,))}: {_value(value)}" for name, value in fix["set"].items())


def with_budget(report: StackReport, max_parameters: int, max_activation_bytes: int, batch_size: int = 1,
                names: tuple[str, str] = ("model.budget.max_parameters", "model.budget.max_activation_mb")) -> StackReport:
    """The report with a BudgetError when its parameters or a batch's activations exceed the budget."""
    if not report.ok or not report.rows:
        return report
    biggest = max(report.rows, key=lambda row: row.parameters)
    activations = report.total_activation_bytes * batch_size
    if report.total_parameters > max_parameters:
        message = (f"the model has {report.total_parameters:,} parameters, over {names[0]} ({max_parameters:,}); "
                   f"the largest layer is {_row_name(biggest)} with {biggest.parameters:,}: make it smaller "
                   f"(e.g. pool before flatten) or raise {names[0]}")
        return replace(report, error=BudgetError(message, layer_index=biggest.index))
    if activations > max_activation_bytes:
        message = (f"a batch of {batch_size} keeps {activations / 2**20:,.0f} MB of activations, over {names[1]} "
                   f"({max_activation_bytes / 2**20:,.0f} MB): lower data.batch_size or data.image_size, "
                   f"or raise {names[1]}")
        return replace(report, error=BudgetError(message, layer_index=report.rows[-1].index))
    return report


def stack_warnings(rows: Sequence[LayerRow]) -> list[str]:
    """Suspicious but valid stacks: linears without a non-linearity between them, softmax before the loss."""
    warnings, previous = [], None
    for row in rows:
        if row.spec.kind == "linear":
            if previous is not None:
                warnings.append(f"linear #{previous} and linear #{row.index} have no activation between them, so "
                                f"together they are one linear map: add relu between them")
            previous = row.index
        elif row.spec.kind not in _BETWEEN_LINEARS:
            previous = None
    last = [row for row in rows if row.spec.kind not in ("dropout", "identity")][-1:]
    if last and last[0].spec.kind == "softmax":
        warnings.append(f"softmax #{last[0].index} ends the model, but the loss (cross-entropy) applies softmax "
                        "itself: remove it, or the model learns slowly")
    return warnings


def _fixed(spec: LayerSpec, fix: dict[str, Any]) -> LayerSpec:
    if "body" in fix:
        return replace(spec, params={**spec.params, "layers": tuple(apply_fix(spec.params["layers"], fix["body"]))})
    return replace(spec, params={**spec.params, **fix["set"]})


def _check_layers(specs: Sequence[LayerSpec], shape: Shape, num_classes: int, rows: list[LayerRow],
                  misplaced: set[int], prefix: str = "") -> None:
    """Append a row per layer to `rows`; raise ShapeError at the first layer that does not fit."""
    for index, spec in enumerate(specs):
        name = f"{prefix}{spec.kind} #{index}"
        if spec.kind == "residual":
            rows.append(_check_residual(name, index, spec, shape, num_classes))
        else:
            rows.append(_check_layer(name, index, spec, shape, num_classes, rows, index in misplaced))
        shape = rows[-1].output_shape


def _check_layer(name: str, index: int, spec: LayerSpec, shape: Shape, num_classes: int,
                 rows: list[LayerRow], auto_misplaced: bool) -> LayerRow:
    _check_input_kind(name, index, LAYERS[spec.kind].takes, shape)
    resolved = replace(spec, params=_resolve(name, index, spec, shape, num_classes, rows, auto_misplaced))
    _check_groups(name, index, resolved.params)
    _check_window(name, index, resolved.params, shape)
    module, output = _meta_forward(name, index, resolved, shape)
    trainable, frozen = parameter_counts(module)
    return LayerRow(index, resolved, shape, output, trainable + frozen, trainable, frozen,
                    module_mult_adds(module, shape, output), activation_bytes(output))


def _check_residual(name: str, index: int, spec: LayerSpec, shape: Shape, num_classes: int) -> LayerRow:
    """A residual block: its body checked like a stack, and the body must give back its input's shape."""
    body: list[LayerRow] = []
    try:
        _check_layers(spec.params["layers"], shape, num_classes, body, set(), prefix=f"{name}, ")
    except ShapeError as error:
        fix = {"layer_index": index, "body": error.fix} if error.fix else None
        raise ShapeError(str(error), layer_index=index, fix=fix) from error
    if body[-1].output_shape != shape:
        raise ShapeError(f"{name}: its layers turn {_describe(shape)} into {_describe(body[-1].output_shape)}, but "
                         f"a residual block adds its input to their output: they must end with {_describe(shape)}",
                         layer_index=index, fix=_residual_fix(index, body, shape))
    resolved = replace(spec, params={"layers": tuple(row.spec for row in body)})
    return LayerRow(index, resolved, shape, shape, sum(r.parameters for r in body), sum(r.trainable for r in body),
                    sum(r.frozen for r in body), sum(r.mult_adds for r in body),
                    sum(r.activation_bytes for r in body) + activation_bytes(shape), tuple(body))


def _residual_fix(index: int, body: list[LayerRow], shape: Shape) -> dict[str, Any] | None:
    """When only the channels differ: set the body's last conv or linear to give the input's channels."""
    out = body[-1].output_shape
    if len(out) != len(shape) or out[1:] != shape[1:]:
        return None
    param = {"conv2d": "out_channels", "convtranspose2d": "out_channels", "linear": "out_features"}
    last = [row for row in body if row.spec.kind in param][-1:]
    if not last:
        return None
    return {"layer_index": index, "body": {"layer_index": last[0].index, "set": {param[last[0].spec.kind]: shape[0]}}}


def _check_input_kind(name: str, index: int, takes: str, shape: Shape) -> None:
    if takes == "image" and len(shape) != 3:
        raise ShapeError(f"{name} receives {_describe(shape)} but needs a channels x height x width feature map: "
                         "move it before flatten", layer_index=index)
    if takes == "features" and len(shape) != 1:
        raise ShapeError(f"{name} receives {_describe(shape)}: add flatten before it", layer_index=index)


def _resolve(name: str, index: int, spec: LayerSpec, shape: Shape, num_classes: int,
             rows: list[LayerRow], auto_misplaced: bool) -> dict[str, Any]:
    """The params with 'auto' replaced; a given number that does not fit the input is a ShapeError."""
    params = dict(spec.params)
    for param in LAYERS[spec.kind].params:
        value = params[param.name]
        if param.auto == "classes" and value == "auto":
            if auto_misplaced:
                raise ShapeError(f"{name}: {AUTO_OUTPUTS_RULE}: give a number", layer_index=index)
            params[param.name] = num_classes
        elif param.auto in ("channels", "features"):
            params[param.name] = _incoming(name, index, param.name, value, shape[0],
                                           "channels" if param.auto == "channels" else f"features{_origin(rows, shape)}")
        elif param.auto == "shape":
            params[param.name] = _normalized_shape(name, index, param.name, value, shape)
        elif param.auto == "patches":
            params[param.name] = _patch_directions(name, index, param.name, value, shape[0], params["kernel_size"])
    return params


def _incoming(name: str, index: int, param: str, value: Any, incoming: int, unit: str) -> int:
    if value not in ("auto", incoming):
        raise ShapeError(f"{name} receives {incoming} {unit} but {param} is {value}: set {param}: {incoming} or auto",
                         layer_index=index, fix={"layer_index": index, "set": {param: incoming}})
    return incoming


def _normalized_shape(name: str, index: int, param: str, value: Any, shape: Shape) -> tuple[int, ...]:
    """layernorm: 'auto' is the whole shape; a given shape must be the input's trailing sizes."""
    if value == "auto":
        return shape
    wanted = (value,) if isinstance(value, int) else tuple(value)
    if len(wanted) > len(shape) or shape[-len(wanted):] != wanted:
        raise ShapeError(f"{name} receives {_describe(shape)} but {param} is {_value(value)}, which must be its "
                         f"trailing sizes: set {param}: {_value(list(shape))} or auto",
                         layer_index=index, fix={"layer_index": index, "set": {param: shape}})
    return wanted


def _patch_directions(name: str, index: int, param: str, value: Any, channels: int, kernel_size: Any) -> int:
    """whitening: 'auto' is every direction of a patch with both signs; a number must not ask for more."""
    height, width = as_pair(kernel_size)
    most = 2 * channels * height * width
    if value == "auto":
        return most
    if value > most:
        raise ShapeError(f"{name}: out_channels {value} is more than its {channels} x {height} x {width} patches have "
                         f"directions (2 signs x {most // 2}): set {param}: {most} or auto",
                         layer_index=index, fix={"layer_index": index, "set": {param: most}})
    return value


def _check_groups(name: str, index: int, params: dict[str, Any]) -> None:
    """Grouped convolutions and groupnorm need channel counts the groups divide."""
    channels: tuple[int, ...]
    if "groups" in params:
        channels, groups, key = (params["in_channels"], params["out_channels"]), params["groups"], "groups"
    elif "num_groups" in params:
        channels, groups, key = (params["num_channels"],), params["num_groups"], "num_groups"
    else:
        return
    common = gcd(*channels)
    if common % groups:
        best = max(d for d in range(1, groups + 1) if common % d == 0)
        counts = " and ".join(str(c) for c in channels)
        raise ShapeError(f"{name}: {key} {groups} does not divide {counts} channels: set {key}: {best}",
                         layer_index=index, fix={"layer_index": index, "set": {key: best}})


def _origin(rows: list[LayerRow], shape: Shape) -> str:
    """' (64 x 8 x 8)' when these features were flattened from a feature map unchanged since."""
    for row in reversed(rows):
        if row.output_shape != shape:
            break
        if len(row.input_shape) > 1:
            return f" ({format_shape(row.input_shape)})"
    return ""


def _check_window(name: str, index: int, params: dict[str, Any], shape: Shape) -> None:
    """A kernel (dilated) must fit inside the (padded) image."""
    if "kernel_size" not in params or params.get("padding") in ("same", "full"):
        return
    padding = 0 if params.get("padding") == "valid" else params.get("padding", 0)
    kernel = params["kernel_size"]
    spans = [d * (k - 1) + 1 for k, d in zip(as_pair(kernel), as_pair(params.get("dilation", 1)))]
    if any(size + 2 * pad < span for size, pad, span in zip(shape[1:], as_pair(padding), spans)):
        raise ShapeError(f"{name} receives a {format_shape(shape[1:])} image but kernel_size is {_value(kernel)}"
                         f"{'' if spans == list(as_pair(kernel)) else ' (dilated: ' + format_shape(spans) + ')'}: "
                         "lower kernel_size, add padding, or remove a pooling layer before it", layer_index=index)


def _meta_forward(name: str, index: int, spec: LayerSpec, shape: Shape) -> tuple[nn.Module, Shape]:
    """The layer built on the meta device and its output shape."""
    try:
        with torch.device("meta"):
            module = build_layer(spec).eval()
            output = shape if LAYERS[spec.kind].keeps_shape else _output_shape(module, shape)
    except (RuntimeError, ValueError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{name} cannot take {_describe(shape)}: {reason}", layer_index=index) from exc
    if 0 in output:
        raise ShapeError(f"{name} shrinks {_describe(shape)} to {_describe(output)}: lower its kernel_size or "
                         "stride, or raise data.image_size", layer_index=index)
    return module, output


def _output_shape(module: nn.Module, shape: Shape) -> Shape:
    if isinstance(module, nn.Linear) and shape[-1] == module.in_features:
        # known without running it: linear's meta kernel (addmm) imports torch._dynamo, seconds of every command's start
        return (*shape[:-1], module.out_features)
    return tuple(module(torch.empty(1, *shape)).shape[1:])


def _check_output(specs: Sequence[LayerSpec], shape: Shape, num_classes: int) -> None:
    """The model must end with one score per class."""
    if shape == (num_classes,):
        return
    linears = [i for i, spec in enumerate(specs) if spec.kind == "linear"]
    ending = f"{shape[0]} outputs" if len(shape) == 1 else _describe(shape)
    message = f"the model ends with {ending} but the data has {num_classes} classes: "
    if len(shape) == 1 and linears:
        fix = {"layer_index": linears[-1], "set": {"out_features": "auto"}}
        raise ShapeError(message + "set the last linear's out_features: auto", layer_index=linears[-1], fix=fix)
    add = "linear" if len(shape) == 1 else "flatten and linear"
    raise ShapeError(message + f"add {add} with out_features: auto at the end", layer_index=max(len(specs) - 1, 0))


def _row_name(row: LayerRow) -> str:
    return f"{row.spec.kind} #{row.index}"


def _value(value: Any) -> str:
    """A value as YAML shows it: 5, [5, 3], auto."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _describe(shape: Shape) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else f"a {format_shape(shape)} feature map"
