"""The Train screen's parameter form, generated from the recipe tables (core.config.TABLES).

One field per parameter of the chosen optimizer, loss and schedule: a choice for booleans and
fixed sets of words, otherwise a line read as YAML (0.01, [0.9, 0.999], auto, null).
"""
from __future__ import annotations

from typing import Any, Callable, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic.fields import FieldInfo
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from core.config import TABLES
from core.errors import ConfigError
from screens.layer_dialogs import _read, _yaml

BOUNDS = ((Gt, "gt", ">"), (Ge, "ge", "≥"), (Lt, "lt", "<"), (Le, "le", "≤"),
          (MinLen, "min_length", "len ≥"), (MaxLen, "max_length", "len ≤"))


def literal_choices(info: FieldInfo) -> tuple[Any, ...] | None:
    """The allowed values of a field typed as a Literal (or a bool), else None."""
    if info.annotation is bool:
        return (True, False)
    return get_args(info.annotation) if get_origin(info.annotation) is Literal else None


def choice_options(values: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """Select options showing each value as it is written in a config (true, not True)."""
    return [(value if isinstance(value, str) else _yaml(value), value) for value in values]


def switch_entry(key: str, current: dict[str, Any], name: str) -> dict[str, Any]:
    """train.<key> switched to entry `name`, keeping the parameters both entries take."""
    keep = TABLES[key].parameters(name)
    return {"name": name, **{param: value for param, value in current.items() if param in keep}}


def bounds_text(info: FieldInfo) -> str:
    """A field's bounds in a few characters, e.g. '> 0, ≤ 10'."""
    return ", ".join(f"{sign} {_yaml(getattr(item, attr))}" for item in info.metadata
                     for kind, attr, sign in BOUNDS if isinstance(item, kind))


def about_text(info: FieldInfo) -> str:
    """A field's description (or type) and default."""
    return f"{info.description or _type_name(info.annotation)} · default {_yaml(info.default)}"


class EditParams(ModalScreen[bool]):
    """Edit the parameters of train.optimizer, train.loss and train.schedule; dismisses True once saved.

    `apply(changes)` gets {key: {name, ...params}} for every table and raises ConfigError when the
    values are not valid; the dialog then shows why, naming the key, and stays open.
    """

    DEFAULT_CSS = "EditParams { align: center middle; }"
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, train: dict[str, Any], apply: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        super().__init__()
        self.entries = {key: train[key] for key in TABLES}
        self.apply = apply
        self.fields: dict[Widget, tuple[str, str, FieldInfo]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="params-dialog"):
            yield Label("Training parameters", classes="panel-title")
            with VerticalScroll(id="param-fields"):
                for key, values in self.entries.items():
                    yield from self._section(key, values)
            yield Static("", id="param-description", classes="muted")
            yield Static("", id="params-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Save (enter)", variant="primary", id="save", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def _section(self, key: str, values: dict[str, Any]) -> ComposeResult:
        entry = TABLES[key][values["name"]]
        heading = Text.assemble((f"{key}: {entry.name}", "bold"), "  ", (entry.help, "dim"))
        yield Static(heading, classes="param-section")
        parameters = TABLES[key].parameters(entry.name)
        if not parameters:
            yield Static(f"{entry.name} takes no parameters", classes="muted")
        for param, info in parameters.items():
            control = _control(f"{key}-{param}", info, values[param])
            self.fields[control] = (key, param, info)
            with Horizontal(classes="param-field"):
                yield Label(param, classes="param-key")
                yield control
                yield Static(bounds_text(info), classes="muted param-hint")

    def on_mount(self) -> None:
        next(iter(self.fields), self.query_one("#save", Button)).focus()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        if event.widget in self.fields:
            key, param, info = self.fields[event.widget]
            self.query_one("#param-description", Static).update(f"{key}.{param}: {about_text(info)}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(False)

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        try:
            self.apply(self.values())
        except ConfigError as exc:
            error = self.query_one("#params-error", Static)
            error.update("\n".join(issue.describe() for issue in exc.issues))
            error.display = True
            return
        self.dismiss(True)

    def values(self) -> dict[str, dict[str, Any]]:
        """{key: {name, param: value}} as the fields read now."""
        changes = {key: {"name": values["name"]} for key, values in self.entries.items()}
        for control, (key, param, _) in self.fields.items():
            changes[key][param] = control.value if isinstance(control, Select) else _read(control.value)
        return changes


def _control(widget_id: str, info: FieldInfo, value: Any) -> Input | Select:
    tooltip = info.description
    choices = literal_choices(info)
    if choices is not None:
        return Select(choice_options(choices), value=value, allow_blank=False, compact=True, id=widget_id,
                      tooltip=tooltip)
    return Input(_yaml(value), compact=True, id=widget_id, tooltip=tooltip)


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
