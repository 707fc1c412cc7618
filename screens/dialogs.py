"""Small modal dialogs shared by the screens."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


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
            yield Label(self.title_text, classes="panel-title")
            yield Static("\n".join(f"• {reason}" for reason in self.reasons))
            with Horizontal():
                yield Button(f"{self.confirm} (y)", variant="warning", id="confirm")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class ConfirmQuit(Confirm):
    """Asks before quitting; dismisses with True to quit."""

    AUTO_FOCUS = "#confirm"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("Quit workbench?", reasons, "Quit")


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
            yield Label(self.prompt, classes="panel-title")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield Static("enter to accept, esc to cancel", classes="muted")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
