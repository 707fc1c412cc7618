"""Dialogs of the Model screen: pick a layer or a template, edit a layer's params."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from core.model.registry import (
    LAYERS,
    REQUIRED,
    LayerSpec,
    describe,
    layer_names,
    parse_layer,
)
from screens.dialogs import FormDialog, as_yaml, from_yaml


class PickOption(ModalScreen[str | None]):
    """A searchable list of (id, title, description); dismisses with the chosen id."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="panel-title")
            yield Input(placeholder="type to filter", id="filter")
            yield OptionList(*self._options(""), id="choices")

    def _options(self, text: str) -> list[Option]:
        text = text.lower()
        return [Option(f"{title}  [dim]{description}[/]", id=key) for key, title, description in self.choices
                if text in title.lower() or text in description.lower()]

    def on_input_changed(self, event: Input.Changed) -> None:
        options = self.query_one("#choices", OptionList)
        options.clear_options()
        options.add_options(self._options(event.value))
        options.highlighted = 0 if options.option_count else None

    def on_input_submitted(self) -> None:
        options = self.query_one("#choices", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event) -> None:
        """Up/down in the filter box move through the list."""
        options = self.query_one("#choices", OptionList)
        if event.key in ("down", "up") and self.focused is self.query_one("#filter"):
            options.action_cursor_down() if event.key == "down" else options.action_cursor_up()
            event.stop()


def layer_choices() -> list[tuple[str, str, str]]:
    return [(name, name, describe(name)) for name in layer_names()]


class EditLayer(FormDialog[LayerSpec | None]):
    """One input per param, each read as YAML (3, [3, 3], same, auto); validated by the registry."""

    BINDINGS = [Binding("ctrl+s", "submit", "Apply")]

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__(f"{spec.kind}: {LAYERS[spec.kind].description}")
        self.spec = spec

    def compose_fields(self) -> ComposeResult:
        layer = LAYERS[self.spec.kind]
        entry = self.spec.to_entry()
        values = entry[self.spec.kind] if isinstance(entry, dict) else {}
        with VerticalScroll(id="params"):
            if not layer.params:
                yield Static(f"{self.spec.kind} takes no params", classes="muted")
            for param in layer.params:
                default = "required" if param.default is REQUIRED else f"default {as_yaml(param.default)}"
                with Horizontal(classes="param-row"):
                    yield Label(param.name, classes="param-name")
                    yield Input(as_yaml(values[param.name]), id=f"param-{param.name}")
                    yield Static(f"{param.type.expects}; {default}", classes="muted param-help")

    def submit(self) -> LayerSpec:
        return parse_layer({self.spec.kind: self.values()}, ())

    def values(self) -> dict[str, Any]:
        return {param.name: from_yaml(self.query_one(f"#param-{param.name}", Input).value)
                for param in LAYERS[self.spec.kind].params}
