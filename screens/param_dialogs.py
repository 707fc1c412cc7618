"""The Train screen's settings form, generated from the config schema.

One field per parameter of the chosen optimizer, loss and schedule (from the recipe tables,
core.config.TABLES), then every other training key, the seed and data.augment, walked from the
pydantic models (sections nested in them too): a choice for booleans and fixed sets of words,
otherwise a line read as YAML (0.01, [0.9, 0.999], auto, null, {norm: 1.0}).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Literal, TypeGuard, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import DescendantFocus
from textual.widgets import Input, Label, Select, Static

from core.config import TABLES, AugmentConfig, RunConfig, TrainConfig
from screens.dialogs import FormDialog, as_yaml, from_yaml

BOUNDS = ((Gt, "gt", ">"), (Ge, "ge", "≥"), (Lt, "lt", "<"), (Le, "le", "≤"),
          (MinLen, "min_length", "len ≥"), (MaxLen, "max_length", "len ≤"))
ON_THE_SCREEN = ("epochs", "device", "precision", *TABLES)  # train keys the Train screen itself shows
# the sections after the tables' parameters: (config path, model, keys shown: None = all, help)
SECTIONS: tuple[tuple[tuple[str, ...], type[BaseModel], tuple[str, ...] | None, str], ...] = (
    (("train",), TrainConfig, tuple(key for key in TrainConfig.model_fields if key not in ON_THE_SCREEN),
     "accumulation, clipping, early stopping, compile, determinism"),
    (("data", "augment"), AugmentConfig, None, AugmentConfig.__doc__ or ""),
    ((), RunConfig, ("seed",), "the run's random seed: data order, initial weights, augmentation"),
)
KeyPath = tuple[str, ...]  # a key path in the config: ("data", "augment", "rotation")


def literal_choices(info: FieldInfo) -> tuple[Any, ...] | None:
    """The allowed values of a field typed as a Literal (or a bool), else None."""
    if info.annotation is bool:
        return (True, False)
    return get_args(info.annotation) if get_origin(info.annotation) is Literal else None


def choice_options(values: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """Select options showing each value as it is written in a config (true, not True)."""
    return [(value if isinstance(value, str) else as_yaml(value), value) for value in values]


def bounds_text(info: FieldInfo) -> str:
    """A field's bounds in a few characters, e.g. '> 0, ≤ 10'."""
    return ", ".join(f"{sign} {as_yaml(getattr(item, attr))}" for item in info.metadata
                     for kind, attr, sign in BOUNDS if isinstance(item, kind))


def about_text(info: FieldInfo) -> str:
    """A field's description (or type) and default (or that it is required)."""
    default = "required" if info.is_required() else f"default {as_yaml(info.default)}"
    return f"{info.description or _type_name(info.annotation)} · {default}"


class SchemaForm(FormDialog[bool]):
    """A form of config keys walked from pydantic models; dismisses True once `apply` took the values.

    Subclasses give `compose_sections()`, yielding headings and `model_fields(...)`. `apply(values)`
    gets every field's value by key path and raises ConfigError when they are not valid; the form
    then shows why, naming the key, and stays open.
    """

    DEFAULT_CSS = "SchemaForm { align: center middle; }"  # the rest in app.tcss, beside the other dialogs'
    BINDINGS = [Binding("ctrl+s", "submit", "Save")]
    SUBMIT = "Save"
    CANCELLED = False

    def __init__(self, heading: str, config: dict[str, Any], apply: Callable[[dict[KeyPath, Any]], None]) -> None:
        super().__init__(heading)
        self.config = config
        self.apply = apply
        self.fields: dict[Input | Select, tuple[KeyPath, FieldInfo]] = {}

    def compose_sections(self) -> ComposeResult:
        raise NotImplementedError

    def compose_fields(self) -> ComposeResult:
        with VerticalScroll(id="param-fields"):
            yield from self.compose_sections()
        yield Static("", id="param-description", classes="muted")

    def model_fields(self, path: KeyPath, model: type[BaseModel], keys: tuple[str, ...] | None,
                     prefix: str = "") -> ComposeResult:
        """A field for each key of `model` (nested sections as `section.key`), valued from the config."""
        for name, info in model.model_fields.items():
            if keys is not None and name not in keys:
                continue
            if _is_model(info.annotation):
                yield from self.model_fields(path + (name,), info.annotation, None, f"{prefix}{name}.")
                continue
            value = _get(self.config, path + (name,))
            yield self.field(path + (name,), "-".join(path + (name,)), prefix + name, info, value)

    def field(self, path: KeyPath, widget_id: str, label: str, info: FieldInfo, value: Any) -> Horizontal:
        control = _control(widget_id, info, value)
        self.fields[control] = (path, info)
        return Horizontal(Label(label, classes="param-key"), control,
                          Static(bounds_text(info) or shape_text(info.annotation), classes="muted param-hint"),
                          classes="param-field")

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        if event.widget in self.fields:
            path, info = self.fields[event.widget]
            self.query_one("#param-description", Static).update(f"{'.'.join(path)}: {about_text(info)}")

    def submit(self) -> bool:
        self.apply(self.values())
        return True

    def values(self) -> dict[KeyPath, Any]:
        """What the fields say now, by key path: ("data", "val_split") -> 0.2, ("seed",) -> 1, ..."""
        return {path: control.value if isinstance(control, Select) else from_yaml(control.value)
                for control, (path, _) in self.fields.items()}


class EditParams(SchemaForm):
    """Edit every training setting the screen does not show itself; dismisses True once saved.

    `config` is the plain config; `apply(values)` gets every field's value by key path, the
    optimizer, loss and schedule as whole entries.
    """

    def __init__(self, config: dict[str, Any], apply: Callable[[dict[KeyPath, Any]], None]) -> None:
        super().__init__("Training settings", config, apply)
        self.entries = {key: config["train"][key] for key in TABLES}

    def compose_sections(self) -> ComposeResult:
        for key, values in self.entries.items():
            yield from self._table_section(key, values)
        for path, model, keys, about in SECTIONS:
            yield heading(".".join(path) or "run", about)
            yield from self.model_fields(path, model, keys)

    def _table_section(self, key: str, values: dict[str, Any]) -> ComposeResult:
        entry = TABLES[key][values["name"]]
        yield heading(f"{key}: {entry.name}", entry.help)
        parameters = TABLES[key].parameters(entry.name)
        if not parameters:
            yield Static(f"{entry.name} takes no parameters", classes="muted")
        for param, info in parameters.items():
            yield self.field(("train", key, param), f"{key}-{param}", param, info, values[param])

    def values(self) -> dict[KeyPath, Any]:
        """What the fields say now, by key path: ("train", "optimizer") -> {name, params}, ("seed",) -> 1, ..."""
        entries = {key: {"name": values["name"]} for key, values in self.entries.items()}
        values: dict[KeyPath, Any] = {}
        for path, value in super().values().items():
            if path[:2] in {("train", key) for key in entries}:
                entries[path[1]][path[2]] = value
            else:
                values[path] = value
        return {**{("train", key): entry for key, entry in entries.items()}, **values}


def with_values(plain: dict[str, Any], values: dict[KeyPath, Any]) -> dict[str, Any]:
    """A copy of the plain config `plain` with each key path set to its value."""
    result = copy.deepcopy(plain)
    for path, value in values.items():
        _put(result, path, value)
    return result


def shape_text(annotation: Any) -> str:
    """What a field of a section type takes, e.g. 'null or {norm, value}'."""
    models = [arg for arg in get_args(annotation) if _is_model(arg)]
    if not models:
        return ""
    keys = ", ".join(models[0].model_fields)
    return f"null or {{{keys}}}" if type(None) in get_args(annotation) else f"{{{keys}}}"


def heading(title: str, about: str) -> Static:
    """A section's title in bold and the first line of what it is about."""
    return Static(Text.assemble((title, "bold"), "  ", (about.strip().splitlines()[0] if about.strip() else "", "dim")),
                  classes="param-section")


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _get(data: dict[str, Any], path: KeyPath) -> Any:
    for key in path:
        data = data[key]
    return data


def _put(data: dict[str, Any], path: KeyPath, value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


def _control(widget_id: str, info: FieldInfo, value: Any) -> Input | Select:
    tooltip = info.description
    choices = literal_choices(info)
    if choices is not None:
        return Select(choice_options(choices), value=value, allow_blank=False, compact=True, id=widget_id,
                      tooltip=tooltip)
    return Input(as_yaml(value), compact=True, id=widget_id, tooltip=tooltip)


def _type_name(annotation: Any) -> str:
    models = [arg for arg in get_args(annotation) if _is_model(arg)]
    if models and models[0].__doc__:
        return models[0].__doc__.strip().splitlines()[0]
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("core.config.", "")
