"""The Evaluate view: a model scored on labelled images: per-class table, confusion matrix, the worst mistakes."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.errors import WorkbenchError
from core.use.evaluation import Evaluation, TopLoss, evaluate_model, save_evaluation
from core.use.explain import Explainer
from core.use.inference import Classifier
from core.use.overlay import overlay_picture
from screens.model_loading import LoadsModels
from screens.widgets.confusion import ConfusionMatrix
from screens.widgets.fit import PathLabel
from screens.widgets.image_view import ImageView

CLASS_COLUMNS = ("class", "prec", "recall", "f1", "n")
LEFT_WIDTH = (40, 56)  # the tables' side: wide enough for the per-class table, and the matrix of ten classes


class EvaluateScreen(LoadsModels):
    """A model's scores on labelled images: per class, the confusion matrix and the top losses (esc goes back)."""

    CSS_PATH = "evaluate.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("n,right", "step(1)", "Next loss"),
        Binding("p,left", "step(-1)", "Previous"),
    ]

    def __init__(self, checkpoint: Path | None, *, classifier: Classifier | None = None, data: Path | None = None,
                 evaluation: Evaluation | None = None, run_dir: Path | None = None, mode: str = "") -> None:
        """Show `evaluation`, or evaluate `classifier` (else the model in `checkpoint`) on `data`.

        `data` is a folder of class folders or a config file; None means the model's own validation data.
        With `run_dir`, the result is also saved there. `mode` is the screen this view was opened from.
        """
        super().__init__()
        self.MODE = mode
        self.checkpoint, self.classifier, self.data, self.run_dir = checkpoint, classifier, data, run_dir
        self.evaluation = evaluation
        self.loss_index = 0

    def compose_body(self) -> ComposeResult:
        yield Static("", id="eval-summary")
        with Horizontal(id="eval-body"):
            with Vertical(id="eval-left"):
                yield DataTable(id="per-class", cursor_type="row", zebra_stripes=True)
                yield Label("confusion: rows true, cols predicted", classes="panel-title")
                yield ConfusionMatrix(id="eval-matrix")
            with Vertical(id="eval-right"):
                yield Label("top losses", id="loss-title", classes="panel-title")
                with Horizontal(id="loss-images"):
                    yield ImageView(id="loss-image")
                    yield ImageView(id="loss-heatmap")  # why the model predicted what it did (Grad-CAM)
                yield PathLabel(id="loss-path")
                yield Static("", id="loss-caption")

    def on_mount(self) -> None:
        table = self.query_one("#per-class", DataTable)
        for column in CLASS_COLUMNS:
            table.add_column(column, key=column)
        if self.evaluation is not None:
            self.show_evaluation(self.evaluation)
        elif self.classifier is not None:
            self.evaluate(self.classifier)
        elif self.checkpoint is not None:
            self.load_model_file(self.checkpoint)

    def action_back(self) -> None:
        self.dismiss()

    # loading and evaluating

    def model_status(self, text: str) -> None:
        self.show_status(text)

    def model_loaded(self, path: Path, classifier: Classifier) -> None:
        self.classifier = classifier
        self.evaluate(classifier)

    def model_refused(self, path: Path, message: str) -> None:
        self.show_status(message, error=True)

    @work(thread=True, exclusive=True, group="evaluate", exit_on_error=False)
    def evaluate(self, classifier: Classifier) -> None:
        source = self.data or "its validation images"
        self.app.call_from_thread(self.show_status, f"evaluating {self.checkpoint or 'the model'} on {source}…")
        try:
            evaluation = evaluate_model(classifier, self.data, run_dir=self.run_dir, progress=self._progress)
            if self.run_dir is not None:
                save_evaluation(evaluation, self.run_dir)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.show_status, str(exc), error=True)
            return
        except OSError as exc:
            self.app.call_from_thread(self.show_status, f"could not save the evaluation in {self.run_dir}: "
                                                        f"{exc.strerror or exc}", error=True)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_evaluation, evaluation)

    def _progress(self, done: int, total: int) -> None:
        self.app.call_from_thread(self.show_status, f"evaluating… {done}/{total} images")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.show_status(f"evaluation failed: {event.worker.error}", error=True)

    # showing it

    def show_evaluation(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        notes = []
        if evaluation.skipped:
            notes.append(f"{len(evaluation.skipped)} unreadable file(s) skipped")
        if evaluation.unknown_folders:
            notes.append("not classes of the model: " + ", ".join(evaluation.unknown_folders))
        saved = f"; saved in {self.run_dir}" if self.run_dir else ""  # evaluation.json and confusion.csv
        self.show_status("\n".join([accuracy_line(evaluation) + saved, *notes]))
        table = self.query_one("#per-class", DataTable)
        table.clear()
        for report in evaluation.per_class:
            table.add_row(Text(report.name), *(f"{value:.2f}" for value in (report.precision, report.recall, report.f1)),
                          str(report.support), key=report.name)
        matrix = self.query_one("#eval-matrix", ConfusionMatrix)
        matrix.show(evaluation.classes, evaluation.confusion)
        self.query_one("#eval-left").styles.width = max(LEFT_WIDTH[0], min(matrix.needed_width + 2, LEFT_WIDTH[1]))
        self.loss_index = 0
        self.show_loss()

    def action_step(self, offset: int) -> None:
        if self.evaluation and self.evaluation.top_losses:
            self.loss_index = (self.loss_index + offset) % len(self.evaluation.top_losses)
            self.show_loss()

    def show_loss(self) -> None:
        losses = self.evaluation.top_losses if self.evaluation else []
        title = self.query_one("#loss-title", Label)
        caption = self.query_one("#loss-caption", Static)
        if not losses:
            title.update("top losses")
            self.query_one("#loss-path", PathLabel).text = ""
            caption.update("no images to show" if self.evaluation else "")
            self.query_one("#loss-image", ImageView).set_image(None)
            self.query_one("#loss-heatmap", ImageView).set_image(None)
            return
        loss = losses[self.loss_index]
        title.update(f"top loss {self.loss_index + 1}/{len(losses)} (n/p)")
        self.query_one("#loss-path", PathLabel).text = str(loss.path)
        caption.update(Text(f"true: {loss.true}\npredicted: {loss.predicted} {loss.confidence:.0%}, loss {loss.loss:.2f}"))
        self.query_one("#loss-image", ImageView).load(Path(loss.path))
        if self.classifier is not None:
            self.explain_loss(self.classifier, loss)

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False)
    def explain_loss(self, classifier: Classifier, loss: TopLoss) -> None:
        """The evidence for the wrongly predicted class, drawn over the image beside it."""
        view = self.query_one("#loss-heatmap", ImageView)
        try:
            image = classifier.image(loss.path)
            heatmap = Explainer(classifier).heatmap(image, classifier.classes.index(loss.predicted))
        except WorkbenchError as exc:  # an unreadable file, a model without a layer to read
            self.app.call_from_thread(self._show_heatmap, view, None, f"no heatmap: {exc}")
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_heatmap, view, overlay_picture(image, heatmap),
                                      f"evidence for {loss.predicted} (Grad-CAM)")

    def _show_heatmap(self, view: ImageView, picture: Image.Image | None, note: str) -> None:
        view.set_image(picture)
        view.tooltip = note

    def show_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#eval-summary", Static)
        status.update(text)
        status.set_class(error, "error")


def accuracy_line(evaluation: Evaluation) -> str:
    """e.g. "accuracy 93.3%, top-5 99.0% on 300 images of data/shapes/val"."""
    top5 = f", top-5 {evaluation.top5_accuracy:.1%}" if evaluation.top5_accuracy is not None else ""
    return (f"accuracy {evaluation.accuracy:.1%}{top5} on {evaluation.count} images"
            + (f" of {evaluation.data}" if evaluation.data else ""))
