"""The Data screen's pickers: the data source, and a folder in a tree that can go anywhere."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Static
from textual.widgets.option_list import Option

from core.data.sources import SOURCES
from screens.data_settings import COMBINED
from screens.dialogs import OptionPicker


class SourcePicker(OptionPicker):
    """The sources data.source accepts, and several combined; dismisses with the chosen one ('config': the
    config's own)."""

    def __init__(self, config_source: dict[str, Any]) -> None:
        where = f" at {config_source['path']}" if config_source.get("path") else ""
        options = [Option(f"the config's: {config_source['source']}{where}", id="config")]
        options += [Option(Text.assemble((f"{entry.name:<14}", "bold"), entry.help), id=entry.name)
                    for entry in SOURCES]
        options.append(Option(Text.assemble((f"{COMBINED:<14}", "bold"), "several sources as one dataset"),
                              id=COMBINED))
        super().__init__("Choose the data source", options)


class FolderTree(DirectoryTree):
    """A DirectoryTree of folders only (hidden ones left out)."""

    def filter_paths(self, paths):
        return [path for path in paths if path.is_dir() and not path.name.startswith(".")]


class FolderPicker(ModalScreen[Path | None]):
    """Pick a folder in a tree that can move anywhere: up a level, home, the root or a typed path.

    Dismisses with the chosen folder, or None when cancelled.
    """

    DEFAULT_CSS = """
    FolderPicker { align: center middle; }
    FolderPicker > Vertical { width: 76; max-width: 100%; height: 90%; border: thick $accent;
                              background: $surface; padding: 0 1; }
    FolderPicker #where { height: 1; border: none; padding: 0; background: $boost; }
    FolderPicker FolderTree { height: 1fr; }
    FolderPicker .muted { height: auto; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("backspace", "move_to('..')", "Parent folder"),
        Binding("tilde", "move_to('~')", "Home folder"),
        Binding("slash", "move_to('/')", "Root folder"),
        Binding("g", "type_path", "Type a path"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.absolute()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick a folder of class folders", classes="panel-title")
            yield Input(str(self.root), id="where", compact=True)
            yield FolderTree(self.root)
            yield Static("enter: use the folder · space: open/close · backspace: up · ~: home · /: root · "
                         "g: type a path · esc: cancel", classes="muted")

    def on_mount(self) -> None:
        self.query_one(FolderTree).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a path is typed, its keys are text, not moves."""
        return not (action in ("move_to", "type_path") and isinstance(self.focused, Input))

    def action_move_to(self, where: str) -> None:
        """Show the tree of the parent folder (".."), the home folder ("~") or the root ("/")."""
        target = {"..": self.root.parent, "~": Path.home(), "/": Path(self.root.anchor or "/")}[where]
        self.show_folder(target)

    def action_type_path(self) -> None:
        self.query_one("#where", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed = Path(event.value.strip() or ".").expanduser()
        if typed.is_dir():
            self.show_folder(typed.absolute())
        else:
            self.notify(f"{typed} is not a folder", severity="error")

    def show_folder(self, folder: Path) -> None:
        """Root the tree at `folder` and give it the focus."""
        self.root = folder
        self.query_one("#where", Input).value = str(folder)
        tree = self.query_one(FolderTree)
        tree.path = folder
        tree.focus()

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.dismiss(event.path)
