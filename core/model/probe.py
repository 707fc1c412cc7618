"""The layer table of any nn.Module: one meta-device forward, one row per top-level child as it is called."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from core.errors import ShapeError
from core.model.metrics import activation_bytes, leaf_mult_adds, parameter_counts
from core.model.registry import LayerSpec
from core.model.stack import LayerRow, StackReport, format_shape

Shape = tuple[int, ...]


class _Recorder:
    """Forward hooks that turn a forward pass into rows."""

    def __init__(self, model: nn.Module) -> None:
        self.rows: list[LayerRow] = []
        self.current: str | None = None
        self.inputs: dict[str, Shape] = {}
        self.costs = [0, 0]  # mult-adds, activation bytes of the current child
        self.seen: set[str] = set()
        self.children = dict(model.named_children())

    def leaf(self, module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, torch.Tensor) and args and isinstance(args[0], torch.Tensor):
            self.costs[0] += leaf_mult_adds(module, args[0].shape[1:], output.shape[1:])
            self.costs[1] += activation_bytes(output.shape[1:])

    def enter(self, name: str, args: tuple) -> None:
        self.current, self.costs = name, [0, 0]
        self.inputs[name] = _shape(args[0]) if args else ()

    def leave(self, name: str, output: Any) -> None:
        child = self.children[name]
        trainable, frozen = parameter_counts(child) if name not in self.seen else (0, 0)
        self.seen.add(name)
        spec = LayerSpec(f"{name} ({type(child).__name__})", {})
        self.rows.append(LayerRow(len(self.rows), spec, self.inputs[name], _shape(output), trainable + frozen,
                                  trainable, frozen, self.costs[0], self.costs[1]))
        self.current = None


def probe_module(model: nn.Module, input_shape: Sequence[int], num_classes: int) -> StackReport:
    """The rows of `model` (on the meta device) for one sample of `input_shape`; errors go into the report."""
    recorder = _Recorder(model)
    handles = [leaf.register_forward_hook(recorder.leaf) for leaf in model.modules() if not list(leaf.children())]
    for name, child in recorder.children.items():
        handles.append(child.register_forward_pre_hook(lambda _m, args, name=name: recorder.enter(name, args)))
        handles.append(child.register_forward_hook(lambda _m, _a, out, name=name: recorder.leave(name, out)))
    shape = tuple(input_shape)
    try:
        output = _forward(model.eval(), shape, recorder)
        _own_parameters(model, recorder)
        if output != (num_classes,):
            raise ShapeError(f"the model gives {format_shape(output)} outputs per image but the data has "
                             f"{num_classes} classes", layer_index=max(len(recorder.rows) - 1, 0))
    except ShapeError as error:
        return StackReport(shape, recorder.rows, error)
    finally:
        for handle in handles:
            handle.remove()
    return StackReport(shape, recorder.rows, None)


def _forward(model: nn.Module, shape: Shape, recorder: _Recorder) -> Shape:
    try:
        with torch.no_grad():
            return _shape(model(torch.empty(1, *shape, device="meta")))
    except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = recorder.current or type(model).__name__
        index = len(recorder.rows)
        raise ShapeError(f"{where} cannot take a {format_shape(shape)} image ({reason}): "
                         "check data.image_size (this model may need a larger or a fixed size)", layer_index=index) from exc


def _own_parameters(model: nn.Module, recorder: _Recorder) -> None:
    """A row for parameters held by the model itself rather than a child (e.g. a ViT's class token)."""
    trainable = sum(p.numel() for p in model.parameters(recurse=False) if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters(recurse=False) if not p.requires_grad)
    if trainable + frozen:
        shape = recorder.rows[-1].output_shape if recorder.rows else ()
        spec = LayerSpec(f"({type(model).__name__}'s own parameters)", {})
        recorder.rows.append(LayerRow(len(recorder.rows), spec, shape, shape, trainable + frozen, trainable, frozen))


def _shape(value: Any) -> Shape:
    """The per-sample shape of a tensor output, or of the first tensor in a tuple or list output."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    return tuple(value.shape[1:]) if isinstance(value, torch.Tensor) else ()
