"""Shape inference for a layer stack on the meta device: nothing is allocated or computed.

Shapes exclude the batch dimension: an RGB 32 x 32 image is (3, 32, 32), a flat vector (4096,).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

from core.errors import ShapeError
from core.model.registry import (AUTO_OUTPUTS_RULE, LAYERS, LayerSpec, as_pair, build_layer,
                                 misplaced_auto_outputs)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerRow:
    """One layer as checked: its resolved spec (no 'auto' left), shapes and parameter count."""

    index: int
    spec: LayerSpec
    input_shape: Shape
    output_shape: Shape
    parameters: int


@dataclass(frozen=True)
class StackReport:
    """The rows up to the first failing layer (all rows if only the final output is wrong) and the error."""

    input_shape: Shape
    rows: list[LayerRow]
    error: ShapeError | None

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


def format_shape(shape: Sequence[int]) -> str:
    """(64, 8, 8) -> '64 x 8 x 8'."""
    return " x ".join(str(size) for size in shape)


def check_stack(specs: Sequence[LayerSpec], input_shape: Sequence[int], num_classes: int) -> StackReport:
    """Infer every layer's shapes and resolve 'auto'; a shape problem becomes report.error, never raised."""
    shape, rows = tuple(input_shape), []
    misplaced = set(misplaced_auto_outputs(specs))
    try:
        for index, spec in enumerate(specs):
            rows.append(_check_layer(index, spec, shape, num_classes, rows, index in misplaced))
            shape = rows[-1].output_shape
        _check_output(specs, shape, num_classes)
    except ShapeError as error:
        return StackReport(tuple(input_shape), rows, error)
    return StackReport(tuple(input_shape), rows, None)


def build_model(specs: Sequence[LayerSpec], input_shape: Sequence[int], num_classes: int) -> tuple[nn.Sequential, list[LayerSpec]]:
    """A CPU nn.Sequential and the resolved specs, which rebuild the same architecture; raises ShapeError."""
    report = check_stack(specs, input_shape, num_classes)
    if report.error:
        raise report.error
    resolved = [row.spec for row in report.rows]
    with torch.device("cpu"):
        return nn.Sequential(*(build_layer(spec) for spec in resolved)), resolved


def apply_fix(specs: Sequence[LayerSpec], fix: dict[str, Any]) -> list[LayerSpec]:
    """The specs with a ShapeError.fix ({'layer_index': i, 'set': {param: value}}) applied."""
    index, changes = fix["layer_index"], fix["set"]
    return [replace(spec, params={**spec.params, **changes}) if i == index else spec for i, spec in enumerate(specs)]


def _check_layer(index: int, spec: LayerSpec, shape: Shape, num_classes: int,
                 rows: list[LayerRow], auto_misplaced: bool) -> LayerRow:
    name = f"{spec.kind} #{index}"
    _check_input_kind(name, index, LAYERS[spec.kind].takes, shape)
    resolved = replace(spec, params=_resolve(name, index, spec, shape, num_classes, rows, auto_misplaced))
    _check_window(name, index, resolved.params, shape)
    output, parameters = _meta_forward(name, index, resolved, shape)
    return LayerRow(index, resolved, shape, output, parameters)


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
            incoming = shape[0]
            if value not in ("auto", incoming):
                unit = "channels" if param.auto == "channels" else f"features{_origin(rows, shape)}"
                received = f"{incoming} {unit}"
                raise ShapeError(f"{name} receives {received} but {param.name} is {value}: "
                                 f"set {param.name}: {incoming} or auto",
                                 layer_index=index, fix={"layer_index": index, "set": {param.name: incoming}})
            params[param.name] = incoming
    return params


def _origin(rows: list[LayerRow], shape: Shape) -> str:
    """' (64 x 8 x 8)' when these features were flattened from a feature map unchanged since."""
    for row in reversed(rows):
        if row.output_shape != shape:
            break
        if len(row.input_shape) > 1:
            return f" ({format_shape(row.input_shape)})"
    return ""


def _check_window(name: str, index: int, params: dict[str, Any], shape: Shape) -> None:
    """A kernel must fit inside the (padded) image."""
    if "kernel_size" not in params or params.get("padding") == "same":
        return
    padding = 0 if params.get("padding") == "valid" else params.get("padding", 0)
    kernel = params["kernel_size"]
    if any(size + 2 * pad < k for size, pad, k in zip(shape[1:], as_pair(padding), as_pair(kernel))):
        shown = kernel if isinstance(kernel, int) else list(kernel)
        raise ShapeError(f"{name} receives a {format_shape(shape[1:])} image but kernel_size is {shown}: "
                         "lower kernel_size, add padding, or remove a pooling layer before it", layer_index=index)


def _meta_forward(name: str, index: int, spec: LayerSpec, shape: Shape) -> tuple[Shape, int]:
    """The output shape and parameter count of a layer, built and run on the meta device."""
    try:
        with torch.device("meta"):
            module = build_layer(spec).eval()
            output = shape if LAYERS[spec.kind].keeps_shape else tuple(module(torch.empty(1, *shape)).shape[1:])
    except (RuntimeError, ValueError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{name} cannot take {_describe(shape)}: {reason}", layer_index=index) from exc
    return output, sum(p.numel() for p in module.parameters())


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


def _describe(shape: Shape) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else f"a {format_shape(shape)} feature map"
