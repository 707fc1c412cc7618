"""The Classify screen: pick a saved model, open image files or a folder, see each image's top classes."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from rich.console import JustifyMethod
from PIL import Image
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.widgets import ContentSwitcher, DataTable, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from core.data.images import image_files
from core.errors import WorkbenchError
from core.use.evaluation import Evaluation, evaluate_model
from core.files import atomic_write
from core.runs.history import list_checkpoints
from core.use.explain import Explainer, Explanation
from core.use.inference import Classifier, FileFailure, Prediction
from core.use.overlay import overlay_picture
from screens.dialogs import AskText
from screens.evaluate import EvaluateScreen, accuracy_line
from screens.feature_maps import FeatureMapsScreen
from screens.messages import UseModelFile
from screens.model_loading import LoadsModels
from screens.widgets.confusion import ConfusionMatrix
from screens.widgets.fit import PathLabel, shorten_left
from screens.widgets.image_view import ImageView

MAX_IMAGES = 2000
CHUNK = 64  # images classified per call, so results appear as they come
TOP_K = 5
BAR_WIDTH = 12
EIGHTHS = " ▏▎▍▌▋▊▉"
SORTS = ("file", "class", "confidence")  # `s` steps through these
CLASS_WIDTH = (5, 14)  # the class column is as wide as the longest class name, within these
CONFIDENCE_WIDTH = 4  # "100%"
TABLE_CHROME = 2 * len(SORTS) + 2  # cell padding and the scroll bar

Result = Prediction | FileFailure


@dataclass(frozen=True)
class Cell:
    """A table cell that shows `text` and sorts by `key`."""

    text: str
    key: tuple
    justify: JustifyMethod = "left"

    def __str__(self) -> str:
        return self.text

    def __rich__(self) -> Text:
        return Text(self.text, justify=self.justify, no_wrap=True, overflow="ellipsis")


class ClassifyScreen(LoadsModels):
    """Classify image files with a saved model: top classes of each image, accuracy on class folders."""

    MODE = "classify"
    CSS_PATH = "classify.tcss"
    AUTO_FOCUS = "#checkpoints"
    BINDINGS = [
        Binding("o", "open_images", "Open"),
        Binding("s", "sort", "Sort", tooltip="Sort the images by file, class or confidence (or click a header)"),
        Binding("x", "export", "CSV", tooltip="Write the predictions as CSV: path, predicted, confidence"),
        Binding("e", "evaluate", "Evaluate", tooltip="Per-class scores, confusion matrix and top losses"),
        Binding("f", "feature_maps", "Maps", tooltip="The selected image's feature maps, layer by layer"),
        Binding("m", "toggle_matrix", "Matrix", tooltip="Show the confusion matrix or the image"),
        Binding("h", "explain", "Heatmap: why this class",
                tooltip="Overlay the evidence for the top class (Grad-CAM); again for the next classes, then off",
                show=False),
        Binding("c", "checkpoint_path", "Type a model file path", show=False),
        Binding("n", "step(1)", "Next image", show=False),
        Binding("p", "step(-1)", "Previous image", show=False),
        Binding("r", "refresh_checkpoints", "Refresh checkpoints", show=False),
    ]

    classifier: Classifier | None = None
    checkpoint: Path | None = None
    evaluation: Evaluation | None = None  # of a folder whose subfolders are the model's classes
    explained_rank: int | None = None  # which of the top classes the heatmap shows (0: the top); None: no heatmap

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[Path] = []
        self.names: list[str] = []  # each path relative to the opened folder
        self.results: dict[int, Result] = {}  # path index -> prediction, or why it failed
        self.images_source = ""
        self.labelled: Path | None = None  # the opened folder, when its subfolders are the model's classes
        self.sort_by, self.sort_reverse = "file", False
        self._file_width = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="classify-body"):
            with Vertical(id="classify-left"):
                yield Label("checkpoints (enter loads)", classes="panel-title")
                yield OptionList(id="checkpoints")
                yield Label("images", classes="panel-title", id="images-title")
                yield DataTable(id="image-table", cursor_type="row", zebra_stripes=True)
            with ContentSwitcher(id="classify-right", initial="image-pane"):
                with Vertical(id="image-pane"):
                    yield PathLabel(id="image-name", classes="panel-title")
                    yield ImageView(id="preview")
                    yield DataTable(id="top-k", cursor_type="none", show_cursor=False, show_header=False)
                with Vertical(id="matrix-pane"):
                    yield Static("", id="accuracy", classes="panel-title")
                    yield Static("rows: true class, columns: predicted", classes="muted")
                    yield ConfusionMatrix(id="classify-matrix")
        yield Static("", id="classify-status")

    def on_mount(self) -> None:
        top_k = self.query_one("#top-k", DataTable)
        top_k.add_column("class", key="class")
        top_k.add_column("probability", key="probability", width=6)
        top_k.add_column("bar", key="bar", width=BAR_WIDTH)
        self._fill_table()
        self.show_status("choose a checkpoint (enter, or c to type a path), then o to open images")

    def on_screen_resume(self) -> None:  # WorkbenchScreen's runs as well: Textual calls every class's handler
        self.refresh_checkpoints()

    def on_resize(self) -> None:
        self.call_after_refresh(self._refit)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys show in the footer (and the palette) once they have something to act on."""
        if action == "toggle_matrix":
            return self.evaluation is not None
        if action in ("sort", "export"):
            return bool(self.results)
        if action == "evaluate":
            return self.classifier is not None
        if action in ("feature_maps", "explain"):
            return self.classifier is not None and self.selected_index is not None
        return super().check_action(action, parameters)

    # checkpoints

    def action_refresh_checkpoints(self) -> None:
        self.refresh_checkpoints()

    @work(thread=True, exclusive=True, group="checkpoints")
    def refresh_checkpoints(self) -> None:
        paths = list_checkpoints(self.app.runs_dir)
        self.app.call_from_thread(self._show_checkpoints, paths)

    def _show_checkpoints(self, paths: list[Path]) -> None:
        options = self.query_one("#checkpoints", OptionList)
        options.set_options(Option(f"{path.parent.parent.name} {path.stem}", id=str(path)) for path in paths)
        if paths:
            options.highlighted = 0
        else:
            options.add_option(Option(f"no checkpoints in {self.app.runs_dir} yet", disabled=True))

    @on(OptionList.OptionSelected, "#checkpoints")
    def checkpoint_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:  # the "no checkpoints yet" line has none (and is disabled)
            self.use_checkpoint(Path(event.option.id))

    def action_checkpoint_path(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.use_checkpoint(Path(text).expanduser())

        self.app.push_screen(AskText("Model file (.pt)", str(self.checkpoint or "")), answered)

    def use_checkpoint(self, path: Path) -> None:
        """Load a model file (in a thread, asking first if it would run code) and classify the open images."""
        self.load_model_file(path)

    def on_use_model_file(self, message: UseModelFile) -> None:
        """Another screen (Runs) asked, through the app, to classify with this model file."""
        self.use_checkpoint(message.path)

    def model_status(self, text: str) -> None:
        self.show_status(text)

    def model_loaded(self, path: Path, classifier: Classifier) -> None:
        self.classifier, self.checkpoint = classifier, path
        self.results, self.evaluation, self.explained_rank = {}, None, None
        self.query_one("#classify-right", ContentSwitcher).current = "image-pane"
        accuracy = classifier.metrics.get("val_accuracy")
        about = [f"{len(classifier.classes)} classes", *([f"epoch {classifier.epoch}"] if classifier.epoch else []),
                 *([f"val acc {accuracy:.1%}"] if isinstance(accuracy, float) else [])]
        self.show_status(f"model {path} ({', '.join(about)})" + ("" if self.paths else "; o opens images"))
        self._fill_table()  # the class column fits the new model's names
        self.refresh_bindings()
        if self.paths:
            self.classify_all(classifier)

    def model_refused(self, path: Path, message: str) -> None:
        kept = f" (still using {self.checkpoint})" if self.classifier is not None else ""
        self.show_status(message + kept, error=True)

    # images

    def action_open_images(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.open_images(Path(text).expanduser())

        self.app.push_screen(AskText("Image file or folder", self.images_source), answered)

    def open_images(self, path: Path) -> None:
        """Show the image files at `path` (a file, or a folder searched recursively) and classify them."""
        self.images_source = str(path)
        self.list_images(path)

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def list_images(self, path: Path) -> None:
        try:
            paths = image_files(path)
        except FileNotFoundError:
            self.app.call_from_thread(self.show_status, f"{path}: no such file or folder", error=True)
            return
        self.app.call_from_thread(self._show_images, path, paths, path.is_dir())

    def _show_images(self, source: Path, paths: list[Path], folder: bool) -> None:
        if not paths:
            self.show_status(f"no image files in {source}", error=True)
            return
        self.paths, self.results, self.evaluation = paths[:MAX_IMAGES], {}, None
        self.names = [str(path.relative_to(source)) if path != source else path.name for path in self.paths]
        self.labelled = source if folder and _class_folders(self.names) else None
        self.sort_by, self.sort_reverse = "file", False
        self._fill_table()
        self.query_one("#classify-right", ContentSwitcher).current = "image-pane"
        self.refresh_bindings()
        if len(paths) > MAX_IMAGES:
            self.notify(f"showing the first {MAX_IMAGES} of {len(paths)} images", severity="warning")
        self.query_one("#image-table", DataTable).focus()
        self.show_selected()
        if self.classifier is None:
            self.show_status("choose a checkpoint to classify these images", error=True)
        else:
            self.classify_all(self.classifier)

    @work(thread=True, exclusive=True, group="classify", exit_on_error=False)
    def classify_all(self, classifier: Classifier) -> None:
        paths, names, folder = self.paths, self.names, self.labelled
        worker = get_current_worker()
        for start in range(0, len(paths), CHUNK):
            results = classifier.classify_files(paths[start:start + CHUNK], top_k=TOP_K, batch_size=CHUNK)
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._show_results, paths, start, results)
        self.app.call_from_thread(self._classified, paths)
        if folder is not None and _class_folders(names, classifier.classes):
            self.app.call_from_thread(self.show_status, f"classified {len(paths)} image(s); scoring the class folders…")
            try:
                evaluation = evaluate_model(classifier, folder)
            except WorkbenchError as exc:
                self.app.call_from_thread(self.show_status, f"the class folders were not scored: {exc}", error=True)
                return
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_evaluation, paths, evaluation)

    def _show_results(self, paths: list[Path], start: int, results: list[Result]) -> None:
        if paths is not self.paths:  # a newer list of images replaced these
            return
        table = self.query_one("#image-table", DataTable)
        for index, result in enumerate(results, start=start):
            self.results[index] = result
            label, confidence = self._result_cells(index)
            table.update_cell(str(index), "class", label)
            table.update_cell(str(index), "confidence", confidence)
        if start == 0:
            self.refresh_bindings()
        self.show_selected()

    def _classified(self, paths: list[Path]) -> None:
        if paths is not self.paths:
            return
        failed = sum(1 for result in self.results.values() if isinstance(result, FileFailure))
        skipped = f", {failed} unreadable" if failed else ""
        self.show_status(f"classified {len(paths)} image(s){skipped}; arrows move, s sorts, x writes a CSV")
        self._sort()

    def _show_evaluation(self, paths: list[Path], evaluation: Evaluation) -> None:
        if paths is not self.paths:
            return
        self.evaluation = evaluation
        summary = accuracy_line(evaluation)
        self.query_one("#accuracy", Static).update(summary)
        self.query_one("#classify-matrix", ConfusionMatrix).show(evaluation.classes, evaluation.confusion)
        self.query_one("#classify-right", ContentSwitcher).current = "matrix-pane"
        unknown = f"; not classes of the model, left out: {', '.join(evaluation.unknown_folders)}" \
            if evaluation.unknown_folders else ""
        self.show_status(f"{summary}{unknown}; m switches between the matrix and the image, e evaluates in full")
        self.refresh_bindings()

    # the table

    def _fill_table(self) -> None:
        """(Re)build the image table with columns that fit its width; keeps the order and the selected image."""
        table = self.query_one("#image-table", DataTable)
        selected = self.selected_index
        self._file_width, class_width = self._column_widths()
        table.clear(columns=True)
        table.add_column("file", key="file", width=self._file_width)
        table.add_column("class", key="class", width=class_width)
        table.add_column(Text("conf", justify="right"), key="confidence", width=CONFIDENCE_WIDTH)
        for index, name in enumerate(self.names):
            table.add_row(Cell(shorten_left(name, self._file_width), (name,)), *self._result_cells(index),
                          key=str(index))
        self._sort()
        if selected is not None:
            table.move_cursor(row=table.get_row_index(str(selected)), scroll=True)
        self.query_one("#images-title", Label).update(f"images ({len(self.names)})" if self.names else "images")

    def _column_widths(self) -> tuple[int, int]:
        """The file and class columns' widths: class and confidence always whole, the file gets the rest."""
        classes = self.classifier.classes if self.classifier else []
        class_width = max(CLASS_WIDTH[0], min(CLASS_WIDTH[1], max([len("unreadable"), *map(len, classes)])))
        width = self.query_one("#image-table", DataTable).size.width
        return max(8, width - TABLE_CHROME - class_width - CONFIDENCE_WIDTH), class_width

    def _refit(self) -> None:
        if self._column_widths()[0] != self._file_width:
            self._fill_table()

    def _result_cells(self, index: int) -> tuple[Cell, Cell]:
        result = self.results.get(index)
        if isinstance(result, Prediction):
            confidence = result.top[0][1]
            return Cell(result.label, (result.label, -confidence)), Cell(f"{confidence:.0%}", (confidence,), "right")
        if isinstance(result, FileFailure):
            return Cell("unreadable", ("\uffff",)), Cell("", (-1.0,), "right")
        return Cell("…", ("\uffff",)), Cell("", (-2.0,), "right")

    def action_sort(self) -> None:
        """Sort by the next column: file, class, confidence (highest first)."""
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.sort_reverse = self.sort_by == "confidence"
        self._sort(announce=True)

    @on(DataTable.HeaderSelected, "#image-table")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column is None:  # every column is added with a key
            return
        self.sort_reverse = not self.sort_reverse if column == self.sort_by else column == "confidence"
        self.sort_by = column
        self._sort(announce=True)

    def _sort(self, announce: bool = False) -> None:
        table = self.query_one("#image-table", DataTable)
        if not table.row_count:
            return
        selected = self.selected_index
        table.sort(self.sort_by, key=lambda cell: cell.key, reverse=self.sort_reverse)
        if selected is not None:
            table.move_cursor(row=table.get_row_index(str(selected)), scroll=True)
        if announce:
            order = "highest first" if self.sort_by == "confidence" and self.sort_reverse else \
                "reversed" if self.sort_reverse else ""
            self.show_status(f"sorted by {self.sort_by} {order}".rstrip())

    # export

    def action_export(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.export_csv(Path(text).expanduser(), self._rows_in_order())

        self.app.push_screen(AskText("Write the predictions as CSV to", "predictions.csv"), answered)

    def _rows_in_order(self) -> list[tuple[str, str, str]]:
        """path, predicted class, confidence of each image, in the table's order."""
        table = self.query_one("#image-table", DataTable)
        rows = []
        for row in range(table.row_count):
            index = _path_index(table, row)
            result = self.results.get(index)
            predicted = (result.label, f"{result.top[0][1]:.4f}") if isinstance(result, Prediction) else ("", "")
            rows.append((str(self.paths[index]), *predicted))
        return rows

    @work(thread=True, group="export", exit_on_error=False)
    def export_csv(self, target: Path, rows: list[tuple[str, str, str]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([("path", "predicted", "confidence"), *rows])
        try:
            atomic_write(target, lambda handle: handle.write(text.getvalue().encode()))
        except OSError as exc:
            self.app.call_from_thread(self.show_status, f"could not write {target}: {exc.strerror or exc}", error=True)
            return
        self.app.call_from_thread(self.show_status, f"wrote {len(rows)} prediction(s) to {target}")

    # other views

    def action_evaluate(self) -> None:
        """Evaluate in full: on the open class folders if they are scored, else on the model's own validation data."""
        if self.classifier is None:
            return
        self.app.push_screen(EvaluateScreen(self.checkpoint, classifier=self.classifier, data=self.labelled,
                                            evaluation=self.evaluation, mode=self.MODE))

    def action_feature_maps(self) -> None:
        index = self.selected_index
        if self.classifier is None or index is None:
            return
        if any(worker.is_running for worker in self.app.workers if worker.group in ("classify", "evaluate")):
            self.notify("wait until the model has finished classifying", severity="warning")  # hooks share it
            return
        self.app.push_screen(FeatureMapsScreen(self.classifier, self.paths[index], mode=self.MODE))

    def action_toggle_matrix(self) -> None:
        switcher = self.query_one("#classify-right", ContentSwitcher)
        switcher.current = "image-pane" if switcher.current == "matrix-pane" else "matrix-pane"

    # the selected image

    @property
    def selected_index(self) -> int | None:
        """The index in self.paths of the highlighted image, whatever the table's order."""
        table = self.query_one("#image-table", DataTable)
        if not table.row_count or not table.columns:
            return None
        return _path_index(table, table.cursor_row)

    def action_step(self, offset: int) -> None:
        table = self.query_one("#image-table", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.cursor_row + offset, table.row_count - 1)))

    @on(DataTable.RowHighlighted, "#image-table")
    def row_highlighted(self) -> None:
        self.show_selected()

    def show_selected(self) -> None:
        """The highlighted image, its name and its top classes."""
        index = self.selected_index
        if index is None:
            return
        self.query_one("#image-name", PathLabel).text = self.names[index]
        self.show_top_k(self.results.get(index))
        if self.explained_rank is None or self.classifier is None:
            self.query_one("#preview", ImageView).load(self.paths[index])
        else:
            self.explain(self.classifier, self.paths[index], self.explained_rank)

    def action_explain(self) -> None:
        """Heatmap off -> the top class's -> the next classes' -> off."""
        rank = 0 if self.explained_rank is None else self.explained_rank + 1
        classes = len(self.classifier.classes) if self.classifier else 0
        self.explained_rank = rank if rank < min(TOP_K, classes) else None
        self.show_selected()
        if self.explained_rank is None:
            self.show_status("heatmap off (h shows it again)")

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False)
    def explain(self, classifier: Classifier, path: Path, rank: int) -> None:
        explanation = Explainer(classifier).explain_file(path, top_k=rank + 1)[rank]
        picture = overlay_picture(explanation.image, explanation.heatmap)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_explanation, picture, explanation, rank)

    def _show_explanation(self, picture: Image.Image, explanation: Explanation, rank: int) -> None:
        self.query_one("#preview", ImageView).set_image(picture)
        self.show_status(f"heatmap ({explanation.method}, layer {explanation.layer}): evidence for "
                         f"{explanation.class_name} ({explanation.probability:.1%}, top {rank + 1}); h: next class")

    def show_top_k(self, result: Result | None) -> None:
        table = self.query_one("#top-k", DataTable)
        table.clear()
        if isinstance(result, Prediction):
            for name, probability in result.top:
                table.add_row(Text(name), f"{probability:6.1%}", bar(probability, BAR_WIDTH))
        elif isinstance(result, FileFailure):
            table.add_row("unreadable", "", "")
            self.show_status(result.reason, error=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.show_status(f"{event.worker.group} failed: {event.worker.error}", error=True)
        self.refresh_bindings()

    def show_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#classify-status", Static)
        status.update(text)
        status.set_class(error, "error")


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width * fraction` cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def _class_folders(names: list[str], classes: list[str] | None = None) -> bool:
    """Whether the images lie in subfolders (and, given the model's classes, whether those are among them)."""
    folders = {Path(name).parts[0] for name in names if len(Path(name).parts) > 1}
    return bool(folders) and (classes is None or bool(folders & set(classes)))


def _path_index(table: DataTable[Cell], row: int) -> int:
    """The index in the screen's paths of a table row: rows are keyed by it, whatever the sort order."""
    key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
    assert key is not None, "every image row is added with its index as key"
    return int(key)
