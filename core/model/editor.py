"""Editing a layer stack one step at a time, re-checking shapes after every edit, with undo."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from core.model.registry import LayerSpec, parse_layer
from core.model.stack import StackReport, apply_fix, check_stack

UNDO_DEPTH = 100


@dataclass
class StackEditor:
    """A layer list with its current shape report; every edit is validated and can be undone."""

    specs: list[LayerSpec]
    input_shape: tuple[int, ...]
    num_classes: int
    report: StackReport = field(init=False)
    _history: list[list[LayerSpec]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.specs = list(self.specs)
        self.report = check_stack(self.specs, self.input_shape, self.num_classes)

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def entries(self) -> list[Any]:
        """The stack as plain config entries."""
        return [spec.to_entry() for spec in self.specs]

    def add(self, kind: str, at: int | None = None, params: dict[str, Any] | None = None) -> int:
        """Insert a layer (after `at`, or at the end); returns its index. Raises ConfigError."""
        spec = parse_layer({kind: params or _required_defaults(kind)}, ("layer",))
        index = len(self.specs) if at is None else min(at + 1, len(self.specs))
        self._edit(self.specs[:index] + [spec] + self.specs[index:])
        return index

    def set_params(self, index: int, params: dict[str, Any]) -> None:
        """Replace one layer's params (validated by the registry; raises ConfigError)."""
        spec = parse_layer({self.specs[index].kind: params}, ("layer", index))
        self._edit(self.specs[:index] + [spec] + self.specs[index + 1:])

    def remove(self, index: int) -> None:
        self._edit(self.specs[:index] + self.specs[index + 1:])

    def duplicate(self, index: int) -> int:
        self._edit(self.specs[:index + 1] + [self.specs[index]] + self.specs[index + 1:])
        return index + 1

    def move(self, index: int, offset: int) -> int:
        """Move a layer up (offset -1) or down (+1); returns its new index."""
        target = max(0, min(len(self.specs) - 1, index + offset))
        if target != index:
            specs = list(self.specs)
            specs.insert(target, specs.pop(index))
            self._edit(specs)
        return target

    def replace_all(self, specs: Sequence[LayerSpec]) -> None:
        """Swap in a whole stack (a template, a loaded file)."""
        self._edit(list(specs))

    def apply_suggested_fix(self) -> bool:
        """Apply the current shape error's fix, if it has one; returns whether it did."""
        fix = self.report.error.fix if self.report.error else None
        if not fix:
            return False
        self._edit(apply_fix(self.specs, fix))
        return True

    def undo(self) -> bool:
        if not self._history:
            return False
        self.specs = self._history.pop()
        self._recheck()
        return True

    def retarget(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        """Re-check for another input shape or class count (the data changed)."""
        self.input_shape, self.num_classes = input_shape, num_classes
        self._recheck()

    def _edit(self, specs: list[LayerSpec]) -> None:
        self._history = (self._history + [self.specs])[-UNDO_DEPTH:]
        self.specs = specs
        self._recheck()

    def _recheck(self) -> None:
        self.report = check_stack(self.specs, self.input_shape, self.num_classes)


def _required_defaults(kind: str) -> dict[str, Any]:
    """Starting values for a new layer's required params, so adding never fails."""
    from core.model.registry import LAYERS, REQUIRED

    starters = {"out_channels": 32, "kernel_size": 3, "out_features": 64}
    return {p.name: starters.get(p.name, 1) for p in LAYERS[kind].params if p.default is REQUIRED}
