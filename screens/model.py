"""The Model screen: the layer stack as a table with live shapes, edited in place."""
from __future__ import annotations

from pathlib import Path

import torch
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from core.columns import bytes_text, cells_width, count_text, fit_columns
from core.errors import ConfigError, WorkbenchError
from core.model.editor import StackEditor
from core.model.files import load_stack, save_stack
from core.model.registry import LAYERS, LayerSpec, parse_stack
from core.model.stack import LayerRow, StackReport, format_shape
from core.model.templates import TEMPLATES
from core.prepare.devices import resolve_device
from core.prepare.memory_estimate import MemoryEstimate, available_memory, estimate_memory
from core.prepare.preflight import check_config_model, config_classes, input_shape
from core.prepare.workspace import Workspace
from screens.base import WorkbenchScreen
from screens.dialogs import AskText
from screens.layer_dialogs import EditLayer, PickOption, layer_choices


LAYER_ACTIONS = {"add", "edit", "remove", "move", "duplicate", "fix", "undo", "write_stack"}
COLUMNS = (("index", "#"), ("layer", "layer"), ("settings", "settings"), ("input", "input"), ("output", "output"),
           ("params", "params"), ("mult_adds", "mult-adds"), ("memory", "memory"))
# narrow terminals: least important first, never the layer
DROP_ORDER = ("input", "mult_adds", "settings", "memory", "params")


class ModelScreen(WorkbenchScreen):
    """Build the layer stack: every edit re-checks the shapes at once."""

    MODE = "model"
    CSS_PATH = "model.tcss"
    BINDINGS = [  # the first ones fit the footer at 80 columns; the rest are in ? and ctrl+p
        Binding("a", "add", "Add"),
        Binding("e,enter", "edit", "Edit"),
        Binding("d,delete", "remove", "Delete"),
        Binding("f", "fix", "Fix", tooltip="Apply the suggested fix of the shape error"),
        Binding("u,ctrl+z", "undo", "Undo"),
        Binding("ctrl+s", "app.save_config", "Save", tooltip="Save the config (only the keys that differ from "
                "the defaults; an example in configs/ is saved under a new name)"),
        Binding("t", "template", "Template"),
        Binding("shift+up,K", "move(-1)", "Move up", show=False),
        Binding("shift+down,J", "move(1)", "Move down", show=False),
        Binding("c", "duplicate", "Duplicate", show=False),
        Binding("ctrl+o", "open", "Open config", show=False),
        Binding("w", "write_stack", "Save stack", show=False),
        Binding("l", "read_stack", "Load stack", show=False),
    ]

    editor: StackEditor | None = None

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="layers", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="summary-panel"):
            yield Static("checking…", id="summary")

    shown_columns: tuple[str, ...] = ()
    _rows: list[dict[str, str]] = []
    _error_at: int | None = None

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_table)

    def on_screen_resume(self) -> None:
        self.load_workspace()

    @work(thread=True, exclusive=True, group="model-classes")
    def load_workspace(self) -> None:
        """Find the class count (may list a folder) off the event loop, then show the stack."""
        config = self.workspace.config
        try:
            classes = len(config_classes(config))
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), title="data", severity="warning")
            classes = self.editor.num_classes if self.editor else 2
        if config.model.layers is None:  # a torchvision or module model
            report = check_config_model(config, classes)
            self.app.call_from_thread(self._show_fixed_model, report, classes)
            return
        specs = parse_stack(config.model.layers)
        self.app.call_from_thread(self._set_editor, specs, input_shape(config), classes)

    def _show_fixed_model(self, report: StackReport, classes: int) -> None:
        """A torchvision or module model: its table, read-only; a template starts a layer stack."""
        self.editor = None
        memory = self._memory(report)
        self._set_rows([row_cells(row.index, row.spec.kind, "", row, _layer_memory(memory, row.index))
                        for row in report.rows], None)
        note = Text(f"{self.workspace.config.model.kind} model: edit it in the config file; "
                    "t starts a layer stack from a template instead\n", style="yellow")
        self.query_one("#summary", Static).update(note + summary_text(report, classes) + memory_text(memory, self._device()))
        self.refresh_title()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Layer edits need a layer stack; keep them disabled while the model is torchvision or a module."""
        if action in LAYER_ACTIONS and self.editor is None:
            return False
        return super().check_action(action, parameters)

    def _set_editor(self, specs: list[LayerSpec], shape: tuple[int, ...], classes: int) -> None:
        if self.editor is None or self.editor.entries() != [s.to_entry() for s in specs]:
            self.editor = StackEditor(specs, shape, classes)
        else:
            self.editor.retarget(shape, classes)
        self.refresh_bindings()
        self.show_stack()

    def show_stack(self, cursor: int | None = None) -> None:
        table = self.query_one("#layers", DataTable)
        row = table.cursor_row if cursor is None else cursor
        report = self.stack.report
        memory = self._memory(report)
        rows = []
        for index, spec in enumerate(self.stack.specs):
            checked = report.rows[index] if index < len(report.rows) else None
            rows.append(row_cells(index, spec.kind, settings_text(spec), checked, _layer_memory(memory, index)))
        self._set_rows(rows, report.error.layer_index if report.error else None)
        if self.stack.specs:
            table.move_cursor(row=max(0, min(row, len(self.stack.specs) - 1)))
        self.query_one("#summary", Static).update(summary_text(self.stack.report, self.stack.num_classes)
                                                  + memory_text(memory, self._device()))
        self.refresh_title()

    def _memory(self, report: StackReport) -> MemoryEstimate | None:
        """Training memory at the config's batch size and precision; None while the shapes do not fit."""
        return None if report.error is not None else estimate_memory(self.workspace.config, report)

    def _device(self) -> torch.device:
        try:
            return resolve_device(self.workspace.config.train.device)
        except WorkbenchError:
            return torch.device("cpu")

    def _set_rows(self, rows: list[dict[str, str]], error_at: int | None) -> None:
        self._rows, self._error_at = rows, error_at
        self._fill_table()

    def _fill_table(self) -> None:
        """The rows with the columns that fit the table's width (the least important dropped first)."""
        table = self.query_one("#layers", DataTable)
        widths = {key: max([len(label), *(len(row[key]) for row in self._rows)]) for key, label in COLUMNS}
        available = (table.size.width or self.size.width) - 2  # the scroll bar
        shown = tuple(fit_columns([key for key, _ in COLUMNS], DROP_ORDER,
                                  lambda keys: cells_width(widths, keys) + 2 <= available))  # + the error mark
        cursor = table.cursor_row
        if shown != self.shown_columns:
            self.shown_columns = shown
            table.clear(columns=True)
            labels = dict(COLUMNS)
            for key in shown:
                table.add_column(labels[key], key=key)
        else:
            table.clear()
        for index, row in enumerate(self._rows):
            error = index == self._error_at
            table.add_row(*(Text(f"✗ {row[key]}" if error and key == "index" else row[key],
                                 style="bold red" if error else "", justify="right" if key in RIGHT else "left")
                            for key in shown), key=str(index))
        if self._rows:
            table.move_cursor(row=max(0, min(cursor, len(self._rows) - 1)), animate=False)

    @property
    def stack(self) -> StackEditor:
        """The layer stack's editor: layer actions run only while there is one (check_action)."""
        assert self.editor is not None, "a layer action without a layer stack"
        return self.editor

    @property
    def cursor(self) -> int | None:
        table = self.query_one("#layers", DataTable)
        return table.cursor_row if self.editor and self.editor.specs else None

    def commit(self, cursor: int | None = None) -> None:
        """Write the edited stack into the config; an invalid stack is undone and explained."""
        try:
            self.workspace.set_layers(self.stack.entries())
        except ConfigError as exc:
            self.stack.undo()
            self.notify("\n".join(issue.message for issue in exc.issues), title="not applied", severity="error")
        self.show_stack(cursor)

    def action_add(self) -> None:
        def chosen(kind: str | None) -> None:
            if kind:
                self.commit(self.stack.add(kind, at=self.cursor))

        self.app.push_screen(PickOption("Add a layer", layer_choices()), chosen)

    def action_edit(self) -> None:
        index = self.cursor
        if index is None:
            return

        def edited(spec: LayerSpec | None) -> None:
            if spec is not None:
                self.stack.set_params(index, spec.params)
                self.commit(index)

        self.app.push_screen(EditLayer(self.stack.specs[index]), edited)

    def action_remove(self) -> None:
        if self.cursor is not None:
            index = self.cursor
            self.stack.remove(index)
            self.commit(index)

    def action_move(self, offset: int) -> None:
        if self.cursor is not None:
            self.commit(self.stack.move(self.cursor, offset))

    def action_duplicate(self) -> None:
        if self.cursor is not None:
            self.commit(self.stack.duplicate(self.cursor))

    def action_fix(self) -> None:
        if self.stack.apply_suggested_fix():
            self.commit()
        else:
            self.notify("nothing to fix automatically" if self.stack.report.error else "the stack is fine")

    def action_undo(self) -> None:
        if self.stack.undo():
            self.commit()
        else:
            self.notify("nothing to undo")

    def action_template(self) -> None:
        choices = [(t.name, t.name, t.description) for t in TEMPLATES]

        def chosen(name: str | None) -> None:
            if name:
                template = next(t for t in TEMPLATES if t.name == name)
                if self.editor is None:
                    self.workspace.set_layers(template.layers)
                    self.load_workspace()
                    return
                self.editor.replace_all(parse_stack(template.layers))
                self.commit(0)

        self.app.push_screen(PickOption("Start from a template", choices), chosen)

    def action_write_stack(self) -> None:
        """Save the layer stack alone as YAML (`layers: [...]`), to reuse in other configs."""
        def answered(path: str | None) -> None:
            if path:
                save_stack(self.stack.specs, Path(path))
                self.notify(f"saved the layer stack to {path}")

        self.app.push_screen(AskText("Save the layer stack as", "stack.yaml"), answered)

    def action_read_stack(self) -> None:
        """Replace the model with a layer stack file (undoable while the model is a stack)."""
        def answered(path: str | None) -> None:
            if not path:
                return
            try:
                specs = load_stack(Path(path))
            except ConfigError as exc:
                self.notify(str(exc), title="cannot load the stack", severity="error")
                return
            if self.editor is None:
                self.workspace.set_layers([spec.to_entry() for spec in specs])
                self.load_workspace()
            else:
                self.editor.replace_all(specs)
                self.commit(0)

        self.app.push_screen(AskText("Load a layer stack from", "stack.yaml"), answered)

    def action_open(self) -> None:
        def answered(path: str | None) -> None:
            if not path:
                return
            try:
                self.app.workspace = Workspace.open(Path(path))
            except WorkbenchError as exc:
                self.notify(str(exc), title="cannot open", severity="error")
                return
            self.editor = None
            self.load_workspace()

        self.app.push_screen(AskText("Open a config", str(self.workspace.path or "")), answered)


SHORT_NAMES = {"out_channels": "out", "out_features": "out", "kernel_size": "k", "padding": "pad",
               "in_channels": "in", "in_features": "in", "num_features": "n"}


def settings_text(spec: LayerSpec) -> str:
    """The params set away from their defaults, compactly: 'out=32 k=5 pad=2'."""
    defaults = {param.name: param.default for param in LAYERS[spec.kind].params}
    return " ".join(f"{SHORT_NAMES.get(name, name)}={_plain(value)}" for name, value in spec.params.items()
                    if value != defaults.get(name))


def _plain(value) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], LayerSpec):
        return f"[{len(value)} layers]"
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


RIGHT = {"params", "mult_adds", "memory"}


def row_cells(index: int, kind: str, settings: str, row: LayerRow | None, memory: int | None = None
              ) -> dict[str, str]:
    """One table row by column key; the shapes and costs are empty past a shape error. `memory`: the layer's
    activations for a training batch, in bytes."""
    cells = {"index": str(index), "layer": kind, "settings": settings, "input": "", "output": "", "params": "",
             "mult_adds": "", "memory": "" if memory is None else bytes_text(memory)}
    if row is not None:
        cells.update(input=format_shape(row.input_shape), output=format_shape(row.output_shape),
                     params=params_text(row), mult_adds=count_text(row.mult_adds))
    return cells


def params_text(row: LayerRow) -> str:
    """A layer's parameters, saying which are frozen: '9,408 frozen', '2,565', '1,000 (200 frozen)'."""
    if not row.frozen:
        return f"{row.parameters:,}"
    return f"{row.parameters:,} frozen" if not row.trainable else f"{row.parameters:,} ({row.frozen:,} frozen)"


def _layer_memory(memory: MemoryEstimate | None, index: int) -> int | None:
    """Layer `index`'s activations in the estimate (whose first entry is the input)."""
    return memory.layers[index + 1][1] if memory is not None and index + 1 < len(memory.layers) else None


def memory_text(memory: MemoryEstimate | None, device: torch.device) -> Text:
    """Training memory at the config's batch size and precision, and the largest batch that fits."""
    if memory is None:
        return Text()
    return Text("\n" + memory.summary(str(device), available_memory(device)), style="dim")


def summary_text(report: StackReport, num_classes: int) -> Text:
    """Totals, shapes and the first error with its fix, for the summary panel."""
    text = Text()
    text.append("input ", style="dim").append(format_shape(report.input_shape))
    text.append("  output ", style="dim").append(format_shape(report.output_shape))
    text.append("  classes ", style="dim").append(str(num_classes))
    text.append("  params ", style="dim").append(f"{report.total_parameters:,}")
    if report.total_frozen:
        text.append(f" ({report.total_trainable:,} trainable, {report.total_frozen:,} frozen)")
    text.append("\n")
    if report.error is None:
        text.append("✓ shapes fit", style="bold green")
    else:
        text.append(f"✗ {report.error}\n", style="bold red")
        if report.error.fix:
            text.append("press f to apply the fix", style="yellow")
    for warning in report.warnings:
        text.append(f"\n⚠ {warning}", style="yellow")
    return text
