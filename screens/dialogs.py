"""Small modal dialogs shared by the screens, and `FormDialog`, the base of the screens' edit forms."""
from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import yaml
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from core.errors import ConfigError

ResultT = TypeVar("ResultT")


class FormDialog(ModalScreen[ResultT]):
    """A form: a title, the fields, a line for what is wrong, then the submit and cancel buttons.

    Subclasses give `compose_fields()` and `submit()`, and bind ctrl+s to the "submit" action. Enter
    in a field, the submit button or ctrl+s call `submit()`: a ConfigError it raises is shown under
    the fields and the form stays open, anything else is what the dialog dismisses with. Esc or
    Cancel dismiss with `CANCELLED`.
    """

    DEFAULT_CSS = "FormDialog #form-error { display: none; height: auto; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    SUBMIT: ClassVar[str] = "Apply"  # the submit button's label; its id is the label in lower case
    CANCELLED: ClassVar[Any] = None

    def __init__(self, heading: str) -> None:
        super().__init__()
        self.heading = heading

    def compose_fields(self) -> ComposeResult:
        raise NotImplementedError

    def submit(self) -> ResultT:
        """The result of the fields as they are; raises ConfigError naming what is wrong."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="form"):
            yield Static(self.heading, classes="panel-title")  # a Static: a long title wraps
            yield from self.compose_fields()
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.SUBMIT} (enter)", variant="primary", id=self.SUBMIT.lower(), compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        fields = self.query("#form Input, #form Select")
        (fields.first() if fields else self.query_one(f"#{self.SUBMIT.lower()}", Button)).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_submit() if event.button.id == self.SUBMIT.lower() else self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        try:
            result = self.submit()
        except ConfigError as exc:
            error = self.query_one("#form-error", Static)
            error.update("\n".join(issue.describe() for issue in exc.issues))
            error.display = True
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(self.CANCELLED)


def as_yaml(value: Any) -> str:
    """A value as a form field shows it: one line of YAML (3, [3, 3], same, null)."""
    value = list(value) if isinstance(value, tuple) else value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def from_yaml(text: str) -> Any:
    """A form field's text read as YAML; text that is not YAML stays text, and an empty field is None."""
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


class Confirm(ModalScreen[bool]):
    """Asks a yes/no question, listing what is at stake; dismisses with True on `y` or the first button."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 64; max-width: 95%; height: auto; max-height: 90%; border: thick $warning;
                         background: $surface; padding: 1 2; }
    Confirm Horizontal { height: auto; margin-top: 1; }
    Confirm Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape,n", "dismiss(False)", "Cancel"), Binding("y", "dismiss(True)", "Yes")]
    AUTO_FOCUS = "#cancel"  # enter alone never takes the risk

    def __init__(self, title: str, reasons: list[str], confirm: str = "Yes") -> None:
        super().__init__()
        self.title_text, self.reasons, self.confirm = title, reasons, confirm

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="panel-title")
            yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="reasons")
            with Horizontal():
                yield Button(f"{self.confirm} (y)", variant="warning", id="confirm")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class ConfirmQuit(ModalScreen[str | None]):
    """Asks before quitting, listing what is at stake; dismisses with what to do, None to stay.

    With a training run going: "leave" (quit, the run carries on), "stop" (stop the run, then quit)
    or None (cancel). Otherwise: "quit" or None. With unsaved changes also "save": save the config
    first, then quit (leaving a run going).
    """

    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Vertical { width: 68; max-width: 95%; height: auto; max-height: 90%; border: thick $warning;
                             background: $surface; padding: 1 2; }
    ConfirmQuit Grid { grid-size: 2; grid-gutter: 0 1; height: auto; margin-top: 1; }
    ConfirmQuit Button { width: 100%; }
    """
    BINDINGS = [Binding("escape,n", "dismiss(None)", "Cancel"), Binding("l", "answer('leave')", "Leave it running"),
                Binding("s", "answer('stop')", "Stop it and quit"), Binding("y", "answer('quit')", "Quit"),
                Binding("w", "answer('save')", "Save and quit")]

    def __init__(self, reasons: list[str], training: bool = False, unsaved: bool = False) -> None:
        super().__init__()
        self.reasons, self.training, self.unsaved = reasons, training, unsaved

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Quit workbench?", classes="panel-title")
            yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="reasons")
            with Grid():
                if self.unsaved:
                    label = "Save, leave it running (w)" if self.training else "Save and quit (w)"
                    yield Button(label, variant="success", id="save")
                if self.training:
                    yield Button("Leave it running (l)", variant="primary", id="leave")
                    yield Button("Stop it and quit (s)", variant="warning", id="stop")
                else:
                    yield Button("Quit without saving (y)" if self.unsaved else "Quit (y)", variant="warning",
                                 id="quit")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#save" if self.unsaved else "#leave" if self.training else "#quit", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer":
            answer = parameters[0]
            return self.unsaved if answer == "save" else (answer in ("leave", "stop")) == self.training
        return True

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)


class AskText(ModalScreen[str | None]):
    """Asks for one line of text (a path, a name); dismisses with it, or None when cancelled."""

    DEFAULT_CSS = """
    AskText { align: center middle; }
    AskText > Vertical { width: 70; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, prompt: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.prompt, self.value, self.placeholder = prompt, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt, classes="panel-title")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield Static("enter to accept, esc to cancel", classes="muted")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class Choose(ModalScreen[str | None]):
    """Asks which of a few ways to go, each a button with its key; dismisses with the chosen one's key, None to cancel.

    The first choice has the focus, so enter takes it: put the safe one first.
    """

    DEFAULT_CSS = """
    Choose { align: center middle; }
    Choose > Vertical { width: 72; max-width: 95%; height: auto; max-height: 90%; border: thick $accent;
                        background: $surface; padding: 1 2; }
    Choose Horizontal { height: auto; margin-top: 1; }
    Choose Button { margin-right: 1; min-width: 10; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, reasons: list[str], choices: list[tuple[str, str]]) -> None:
        """`choices`: (key, label) pairs; the key is also the answer."""
        super().__init__()
        self.title_text, self.reasons, self.choices = title, reasons, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="panel-title")
            yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="reasons")
            with Horizontal():
                for key, label in self.choices:
                    yield Button(f"{label} ({key})", variant="primary" if key == self.choices[0][0] else "default",
                                 id=f"choice-{key}")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_key(self, event: Key) -> None:
        if any(event.key == key for key, _ in self.choices):
            event.stop()
            self.dismiss(event.key)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else str(event.button.id).removeprefix("choice-"))


class OptionPicker(ModalScreen[str | None]):
    """A title over a list to choose one from; dismisses with the chosen option's id, None to cancel."""

    DEFAULT_CSS = """
    OptionPicker { align: center middle; }
    OptionPicker > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
                              border: thick $accent; background: $surface; padding: 0 1; }
    OptionPicker OptionList { height: auto; max-height: 14; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, options: list[Option]) -> None:
        super().__init__()
        self.title_text, self.options = title, options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="panel-title")
            yield OptionList(*self.options)
            yield Static("enter to choose, esc to cancel", classes="muted")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
