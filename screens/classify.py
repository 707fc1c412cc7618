"""The Classify screen: pick a saved model, open image files or a folder, see each image's top classes."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from core.checkpoints import load_checkpoint
from core.data.images import UnreadableImage, image_files, open_image
from core.errors import WorkbenchError
from core.history import list_checkpoints
from core.inference import Classifier, Prediction
from screens.base import WorkbenchScreen
from screens.dialogs import AskText
from screens.widgets.image_view import ImageView

MAX_IMAGES = 2000
CHUNK = 32  # images classified per forward pass
TOP_K = 5
BAR_WIDTH = 12


class ClassifyScreen(WorkbenchScreen):
    """Classify image files with a saved checkpoint and see the top classes of each."""

    MODE = "classify"
    CSS_PATH = "classify.tcss"
    AUTO_FOCUS = "#checkpoints"
    BINDINGS = [
        Binding("o", "open_images", "Open images"),
        Binding("c", "checkpoint_path", "Model file"),
        Binding("n", "step(1)", "Next image"),
        Binding("p", "step(-1)", "Previous"),
        Binding("r", "refresh_checkpoints", "Refresh"),
    ]

    classifier: Classifier | None = None
    checkpoint: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[Path] = []
        self.results: dict[int, Prediction | str] = {}  # row -> prediction, or why it failed
        self.images_source = ""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="classify-body"):
            with Vertical(id="classify-left"):
                yield Label("checkpoints (enter loads)", classes="panel-title")
                yield OptionList(id="checkpoints")
                yield Label("images", classes="panel-title")
                yield DataTable(id="image-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="classify-right"):
                yield ImageView(id="preview")
                yield DataTable(id="top-k", cursor_type="none", show_cursor=False)
        yield Static("", id="classify-status")

    def on_mount(self) -> None:
        images = self.query_one("#image-table", DataTable)
        for column in ("image", "class", "prob"):
            images.add_column(column, key=column)
        self.query_one("#top-k", DataTable).add_columns("class", "probability", "")
        self.show_status("choose a checkpoint (enter, or c to type a path), then o to open images")

    def on_screen_resume(self) -> None:
        self.refresh_checkpoints()

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
        self.use_checkpoint(Path(event.option.id))

    def action_checkpoint_path(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.use_checkpoint(Path(text).expanduser())

        self.app.push_screen(AskText("Checkpoint file (.pt)", str(self.checkpoint or "")), answered)

    def use_checkpoint(self, path: Path) -> None:
        """Load a checkpoint (in a thread) and classify the open images with it."""
        self.show_status(f"loading {path}…")
        self.load_classifier(path)

    @work(thread=True, exclusive=True, group="load")
    def load_classifier(self, path: Path) -> None:
        try:
            checkpoint = load_checkpoint(path)
            classifier = Classifier(checkpoint)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.show_status, str(exc), error=True)
            return
        except Exception as exc:  # torch.load's errors for arbitrary files vary
            self.app.call_from_thread(self.show_status, f"{path} is not a usable checkpoint "
                                                        f"({type(exc).__name__}: {exc})", error=True)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._loaded, path, classifier, checkpoint)

    def _loaded(self, path: Path, classifier: Classifier, checkpoint: dict) -> None:
        self.classifier, self.checkpoint = classifier, path
        accuracy = checkpoint.get("metrics", {}).get("val_accuracy")
        scored = f", val acc {accuracy:.1%}" if isinstance(accuracy, float) else ""
        self.show_status(f"model {path} ({len(classifier.classes)} classes, epoch {checkpoint['epoch']}{scored})"
                         + ("" if self.paths else "; o opens images"))
        if self.paths:
            self.classify_all()

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
        self.app.call_from_thread(self._show_images, path, paths)

    def _show_images(self, source: Path, paths: list[Path]) -> None:
        if not paths:
            self.show_status(f"no image files in {source}", error=True)
            return
        self.paths, self.results = paths[:MAX_IMAGES], {}
        table = self.query_one("#image-table", DataTable)
        table.clear()
        for index, path in enumerate(self.paths):
            name = str(path.relative_to(source)) if path != source else path.name
            table.add_row(name, "…", "", key=str(index))
        if len(paths) > MAX_IMAGES:
            self.notify(f"showing the first {MAX_IMAGES} of {len(paths)} images", severity="warning")
        table.focus()
        self.show_selected()
        if self.classifier is None:
            self.show_status("choose a checkpoint to classify these images", error=True)
        else:
            self.classify_all()

    @work(thread=True, exclusive=True, group="classify", exit_on_error=False)
    def classify_all(self) -> None:
        classifier, paths, worker = self.classifier, self.paths, get_current_worker()
        for start in range(0, len(paths), CHUNK):
            results = _classify_chunk(classifier, paths[start:start + CHUNK])
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._show_results, paths, start, results)
        self.app.call_from_thread(self._classified, len(paths))

    def _show_results(self, paths: list[Path], start: int, results: list[Prediction | str]) -> None:
        if paths is not self.paths:  # a newer list of images replaced these
            return
        table = self.query_one("#image-table", DataTable)
        for index, result in enumerate(results, start=start):
            self.results[index] = result
            label, probability = (result.top[0][0], f"{result.top[0][1]:.0%}") if isinstance(result, Prediction) \
                else ("unreadable", "")
            table.update_cell(str(index), "class", label, update_width=True)
            table.update_cell(str(index), "prob", probability, update_width=True)
        self.show_selected()

    def _classified(self, count: int) -> None:
        failed = sum(1 for result in self.results.values() if isinstance(result, str))
        skipped = f", {failed} unreadable" if failed else ""
        self.show_status(f"classified {count} image(s){skipped}; n/p or the arrows move between them")

    # the selected image

    def action_step(self, offset: int) -> None:
        table = self.query_one("#image-table", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.cursor_row + offset, table.row_count - 1)))

    @on(DataTable.RowHighlighted, "#image-table")
    def row_highlighted(self) -> None:
        self.show_selected()

    def show_selected(self) -> None:
        """The highlighted image and its top classes."""
        row = self.query_one("#image-table", DataTable).cursor_row
        if not 0 <= row < len(self.paths):
            return
        self.show_top_k(self.results.get(row))
        self.load_preview(self.paths[row])

    def show_top_k(self, result: Prediction | str | None) -> None:
        table = self.query_one("#top-k", DataTable)
        table.clear()
        if isinstance(result, Prediction):
            for name, probability in result.top:
                table.add_row(name, f"{probability:6.1%}", "█" * round(probability * BAR_WIDTH))
        elif isinstance(result, str):
            table.add_row("unreadable", "", "")
            self.show_status(result, error=True)

    @work(thread=True, exclusive=True, group="preview")
    def load_preview(self, path: Path) -> None:
        try:
            image = open_image(path)
        except UnreadableImage:
            image = None
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._set_preview, image)

    def _set_preview(self, image: Image.Image | None) -> None:
        self.query_one("#preview", ImageView).set_image(image)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.show_status(f"{event.worker.group} failed: {event.worker.error}", error=True)

    def show_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#classify-status", Static)
        status.update(text)
        status.set_class(error, "error")


def _classify_chunk(classifier: Classifier, paths: list[Path]) -> list[Prediction | str]:
    """Predictions for a few files at once; one by one when one of them cannot be read."""
    try:
        return list(classifier.classify(paths, top_k=TOP_K))
    except UnreadableImage:
        return [_classify_one(classifier, path) for path in paths]


def _classify_one(classifier: Classifier, path: Path) -> Prediction | str:
    try:
        return classifier.classify([path], top_k=TOP_K)[0]
    except UnreadableImage as exc:
        return str(exc)
