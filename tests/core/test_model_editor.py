"""The layer-stack editor: each edit re-checks shapes, fixes apply, undo restores."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.model.editor import StackEditor
from core.model.registry import parse_stack
from core.model.templates import TEMPLATES

STACK = ["flatten", {"linear": {"out_features": 16}}, "relu", {"linear": {"out_features": "auto"}}]


def editor() -> StackEditor:
    return StackEditor(parse_stack(STACK), (3, 8, 8), 4)


def test_starts_checked() -> None:
    ed = editor()
    assert ed.report.ok and ed.report.output_shape == (4,)


def test_add_inserts_after_the_cursor_with_usable_defaults() -> None:
    ed = editor()
    index = ed.add("dropout", at=1)
    assert index == 2 and ed.specs[2].kind == "dropout"
    assert ed.add("conv2d", at=None) == 5 and ed.specs[5].params["out_channels"] == 32


def test_breaking_edit_is_reported_and_fix_applies() -> None:
    ed = editor()
    ed.set_params(1, {"in_features": 100, "out_features": 16})
    assert not ed.report.ok and ed.report.error.layer_index == 1
    assert "receives 192 features" in str(ed.report.error)
    assert ed.apply_suggested_fix()
    assert ed.report.ok and ed.specs[1].params["in_features"] == 192


def test_removing_flatten_explains_the_fix() -> None:
    ed = editor()
    ed.remove(0)
    assert "add flatten before it" in str(ed.report.error)
    assert not ed.apply_suggested_fix()


def test_move_duplicate_and_undo() -> None:
    ed = editor()
    original = ed.entries()
    assert ed.move(2, -1) == 1 and ed.specs[1].kind == "relu"
    assert ed.move(0, -1) == 0
    assert ed.duplicate(1) == 2 and [s.kind for s in ed.specs[:3]] == ["flatten", "relu", "relu"]
    assert ed.undo() and ed.undo()
    assert ed.entries() == original and not ed.undo()


def test_invalid_params_raise_and_change_nothing() -> None:
    ed = editor()
    with pytest.raises(ConfigError, match="out_features"):
        ed.set_params(1, {"out_features": -3})
    assert ed.entries() == editor().entries() and not ed.can_undo


def test_retarget_rechecks_for_new_data() -> None:
    ed = editor()
    ed.retarget((1, 4, 4), 10)
    assert ed.report.output_shape == (10,) and ed.report.rows[1].input_shape == (16,)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_templates_fit_cifar_sized_input(template) -> None:
    report = StackEditor(parse_stack(template.layers), (3, 32, 32), 10).report
    assert report.ok and report.output_shape == (10,)
