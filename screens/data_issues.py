"""The Data screen's Issues view: what the latest cross-validation says is wrong with the data, decided image by image.

The findings (likely mislabelled images, duplicate groups, outliers) come from the config's latest
cross-validation in the app's runs folder (`core.clean.review`). For the selected one the view
shows its image(s) side by side; `k`, `x` and `r` mark it keep, exclude or relabel, written at
once to the decisions file the config names (or a new one beside the config, named in the config,
which then needs saving). The image files are never touched; the class counts show the effect.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from PIL import Image
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from core.clean.duplicates import Listed
from core.clean.review import (
    Choice,
    Finding,
    Review,
    class_counts,
    config_value,
    decision_states,
    decisions_target,
    load_review,
    marked,
    new_decisions_path,
    redecided,
    thumbnail,
)
from core.config import RunConfig
from core.data.decisions import Decisions, apply_decisions, key_of, write_decisions
from core.errors import WorkbenchError
from screens.base import WorkbenchScreen
from screens.dialogs import OptionPicker
from screens.widgets.fit import shorten_left
from screens.widgets.image_view import ImageView

KINDS = {"label": "label issues", "duplicate": "duplicates", "outlier": "outliers"}
LIST_TEXT_WIDTH = 30  # the findings list's text, inside its border
MARKS = {"excluded": "✗", "kept": "✓"}  # a relabelled file is marked "→"


def counts_text(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> Text:
    """"name  train/val → train/val" per class, the changed ones first and bold, under the totals."""
    def pair(counts: tuple[int, int]) -> str:
        return f"{counts[0]}/{counts[1]}"

    def total(counts: dict[str, tuple[int, int]]) -> tuple[int, int]:
        return sum(train for train, _ in counts.values()), sum(val for _, val in counts.values())

    text = Text(f"{'all':<10} {pair(total(before)):>9} → {pair(total(after))}", "bold")
    for name in sorted(before, key=lambda name: before[name] == after[name]):  # stable: changed first
        style = "" if before[name] == after[name] else "bold"
        text.append(f"\n{shorten_left(name, 10):<10} {pair(before[name]):>9} → {pair(after[name])}", style)
    return text


class IssuesScreen(WorkbenchScreen):
    """The findings of the latest cross-validation, each marked keep / exclude / relabel (esc goes back).

    Dismisses with whether a decision was written, so the Data screen knows to list its data again.
    """

    CSS_PATH = "data_issues.tcss"
    AUTO_FOCUS = "#findings"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("k", "mark('keep')", "Keep"),
        Binding("x", "mark('exclude')", "Exclude"),
        Binding("r", "mark('relabel')", "Relabel"),
        Binding("c", "pick_class", "Class…"),
    ]

    def __init__(self, *, mode: str = "") -> None:
        super().__init__()
        self.MODE = mode
        self.review: Review | None = None
        self.decisions = Decisions()
        self.wrote = False

    def compose_body(self) -> ComposeResult:
        yield Static("looking for issues …", id="issues-status")
        with Horizontal(id="issues-body"):
            with Vertical(id="issues-left"):
                yield OptionList(id="findings")
                yield Static(id="issues-counts")
            with Vertical(id="issues-right"):
                with Horizontal(id="issues-images"):
                    for number in range(2):
                        with Vertical(id=f"issue-box-{number}", classes="issue-box"):
                            yield ImageView(id=f"issue-image-{number}")
                            yield Label(id=f"issue-caption-{number}", classes="issue-caption")
                yield Static(id="issue-detail")

    def on_mount(self) -> None:
        self.query_one("#findings").border_title = "findings"
        self.query_one("#issues-counts").border_title = "class counts: files → decided"
        self._load(self.workspace.config, self.app.runs_dir)

    def action_back(self) -> None:
        self.dismiss(self.wrote)

    # -- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="issues", exit_on_error=False)
    def _load(self, config: RunConfig, runs_dir: Path) -> None:
        try:
            review = load_review(config, runs_dir)
        except WorkbenchError as exc:
            self.app.call_from_thread(self._set_status, str(exc), True)
        else:
            self.app.call_from_thread(self._reviewed, review)

    def _reviewed(self, review: Review | None) -> None:
        if review is None:
            config = str(self.workspace.path) if self.workspace.path else "CONFIG"
            self._set_status(f"No cross-validation of '{self.workspace.config.name}' in {self.app.runs_dir}: label "
                             f"issues and outliers need images predicted by models that never saw them. Make one, "
                             f"then open this view again:\n  workbench cv {config} --folds 3", True)
            return
        self.review, self.decisions = review, review.decisions
        self._set_status(f"evidence: {review.evidence}")
        self._fill_list()
        self._update_counts()

    def _set_status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#issues-status", Static)
        status.update(Text(message))
        status.set_class(error, "error")

    # -- the list --------------------------------------------------------------------------

    def _fill_list(self) -> None:
        assert self.review is not None
        findings = self.query_one("#findings", OptionList)
        highlighted = findings.highlighted
        findings.clear_options()
        states = decision_states(self.decisions)
        for kind, title in KINDS.items():
            entries = [(number, f) for number, f in enumerate(self.review.findings) if f.kind == kind]
            findings.add_option(Option(Text(f"{title} ({len(entries)})", "bold"), disabled=True))
            findings.add_options(Option(self._entry(finding, states), id=str(number)) for number, finding in entries)
        findings.highlighted = highlighted if highlighted is not None else self._first_finding()

    def _entry(self, finding: Finding, states: dict[str, str]) -> Text:
        """'✗ circle→square 042.png': the decision's mark, the classes, the file's name (the copies' for a group)."""
        decided = [states[key_of(path)] for path in finding.paths if key_of(path) in states]
        mark = next((state[0] if state[0] == "→" else MARKS[state] for state in decided), " ")
        about = f"{finding.classes[0]}→{finding.suggested} " if finding.suggested else \
            f"×{len(finding.paths)} " if finding.kind == "duplicate" else ""
        name = shorten_left(Path(finding.paths[-1]).name, max(8, LIST_TEXT_WIDTH - 2 - len(about)))
        return Text.assemble((mark, "bold"), " ", about, name)

    def _first_finding(self) -> int | None:
        findings = self.query_one("#findings", OptionList)
        return next((i for i in range(findings.option_count) if not findings.get_option_at_index(i).disabled), None)

    def selected(self) -> Finding | None:
        findings = self.query_one("#findings", OptionList)
        if self.review is None or findings.highlighted is None:
            return None
        option = findings.get_option_at_index(findings.highlighted)
        return None if option.id is None else self.review.findings[int(option.id)]

    @on(OptionList.OptionHighlighted, "#findings")
    def _highlighted(self) -> None:
        self._show_selected()

    # -- the selected finding --------------------------------------------------------------

    def _show_selected(self) -> None:
        finding = self.selected()
        self.refresh_bindings()
        self.query_one("#issue-box-1").display = finding is not None and finding.kind == "duplicate"
        if finding is None or self.review is None:
            return
        states = decision_states(self.decisions)
        for number, (path, given) in enumerate(zip(finding.paths[:2], finding.classes)):
            image = self.review.images.get(path)
            caption = f"{image.split} · {given}" if image is not None else given
            if finding.suggested:
                caption += f" → likely {finding.suggested}"
            if key_of(path) in states:
                caption += f" · {states[key_of(path)]}"
            self.query_one(f"#issue-caption-{number}", Label).update(caption)
        width = max(20, self.query_one("#issue-detail", Static).content_size.width or 40)
        more = f" (+{len(finding.paths) - 2} more)" if len(finding.paths) > 2 else ""
        self.query_one("#issue-detail", Static).update(Text.assemble(
            (finding.about, "bold"), more, *(f"\n{shorten_left(path, width)}" for path in finding.paths[:2])))
        self._thumbnails([self.review.images.get(path) for path in finding.paths[:2]])

    @work(thread=True, exclusive=True, group="thumbnails", exit_on_error=False)
    def _thumbnails(self, images: list[Listed | None]) -> None:
        pictures: list[Image.Image | None] = []
        for image in images:
            try:
                pictures.append(thumbnail(image) if image is not None else None)
            except WorkbenchError:
                pictures.append(None)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_thumbnails, pictures)

    def _show_thumbnails(self, pictures: list[Image.Image | None]) -> None:
        for number in range(2):
            self.query_one(f"#issue-image-{number}", ImageView).set_image(
                pictures[number] if number < len(pictures) else None)

    # -- deciding --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("mark", "pick_class"):
            return True if self.selected() is not None else None  # None: shown, dimmed
        return super().check_action(action, parameters)

    def action_mark(self, choice: Choice) -> None:
        """Mark the selected finding; relabel takes a label issue's likely class, and asks for any other's."""
        finding = self.selected()
        if finding is None:
            return
        if choice == "relabel" and finding.suggested is None:
            self.action_pick_class()
        else:
            self._decide(finding, marked(finding, choice, finding.suggested))

    def action_pick_class(self) -> None:
        """Relabel the selected finding to a class picked from a list."""
        finding = self.selected()
        if finding is not None and self.review is not None:
            self.app.push_screen(ClassPicker(self.review.files.classes, finding.classes[0]),
                                 partial(self._relabel, finding))

    def _relabel(self, finding: Finding, label: str | None) -> None:
        if label is not None:
            self._decide(finding, marked(finding, "relabel", label))

    def _decide(self, finding: Finding, new: Decisions) -> None:
        """Write the finding's decision into the decisions file (named in the config first if it names none)."""
        decisions = redecided(self.decisions, finding, new)
        data = self.workspace.config.data
        target = decisions_target(data)
        path = Path(target) if target else new_decisions_path(self.workspace.path, self.workspace.config.name)
        try:
            write_decisions(path, decisions)
            if data.exclude != data.relabel or target is None:  # one file holds every decision from now on
                self.workspace.update("data", exclude=config_value(path), relabel=config_value(path))
                self.refresh_title()
                self.notify(f"decisions go to {path}; ctrl+s saves the config that names it", title="decisions")
        except WorkbenchError as exc:
            self._set_status(str(exc), True)
            return
        self.decisions, self.wrote = decisions, True
        self._fill_list()
        self._update_counts()
        self._next_finding()

    def _next_finding(self) -> None:
        """Highlight the next finding (past the headings)."""
        findings = self.query_one("#findings", OptionList)
        start = findings.highlighted if findings.highlighted is not None else -1
        following = [i for i in range(start + 1, findings.option_count) if not findings.get_option_at_index(i).disabled]
        if following:
            findings.highlighted = following[0]
        self._show_selected()

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def _update_counts(self) -> None:
        """The class counts of the files, before and after the decisions (applying them reads every path)."""
        if self.review is None:
            return
        files, decisions = self.review.files, self.decisions
        try:
            text = counts_text(class_counts(files), class_counts(apply_decisions(files, decisions)))
        except WorkbenchError as exc:
            text = Text(str(exc))
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#issues-counts", Static).update, text)


class ClassPicker(OptionPicker):
    """The data's classes; dismisses with the one chosen, or None."""

    DEFAULT_CSS = "ClassPicker > Vertical { width: 40; }"

    def __init__(self, classes: list[str], given: str) -> None:
        super().__init__(f"Relabel (given: {given}) as", [Option(name, id=name) for name in classes])
