"""The Data screen: pick a source, see its classes, browse samples, check its health, preview transforms;
`i` opens its Issues view (`data_issues.py`)."""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Label,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from core.config import DataConfig
from core.data.sources import SOURCES
from core.errors import ConfigError, DataError
from core.prepare.workspace import SOURCE_KEYS
from screens.base import WorkbenchScreen
from screens.data_pickers import FolderPicker, SourcePicker
from screens.data_settings import COMBINED, EditData, source_keys
from screens.dialogs import AskText
from screens.param_dialogs import KeyPath, with_values
from screens.widgets.fit import shorten_left
from screens.widgets.image_view import ImageView

if TYPE_CHECKING:  # imported by the worker that opens the data: it loads torch, which the first frame never waits for
    from core.data.inspect import ClassCount, DatasetView, HealthReport, SampleInfo

BAR_WIDTH = 8
MIN_BAR_WIDTH = 3
ROW_WIDTH = 28  # a class row in the sidebar's list, beside its scrollbar
NAME_WIDTH = 12
PROGRESS_EVERY_S = 0.2
SIDEBAR_TEXT_WIDTH = 32  # before the first layout
HEALTH_HINT = ("h: check every image (sizes, modes, unreadable files, duplicates)\n"
               "m: compute the per-channel mean and std")


class DataScreen(WorkbenchScreen):
    """Choose the data, see its classes and health, browse samples and the transform preview."""

    MODE = "data"
    CSS_PATH = "data.tcss"
    AUTO_FOCUS = "#classes"
    BINDINGS = [
        Binding("right,j", "step(1)", "Next", key_display="→", priority=True),
        Binding("left,k", "step(-1)", "Previous", key_display="←", priority=True, show=False),
        Binding("right_square_bracket", "next_class(1)", "Next class", key_display="]", show=False),
        Binding("left_square_bracket", "next_class(-1)", "Previous class", key_display="[", show=False),
        Binding("s", "choose_source", "Source"),
        Binding("o", "open_folder", "Open a folder (type its path)", show=False),
        Binding("t", "pick_folder", "Pick folder in a tree", show=False),
        Binding("d", "use_demo", "Use the demo shapes", show=False),
        Binding("h", "health", "Health"),
        Binding("m", "mean_std", "Mean/std", show=False),  # the Health tab names it
        Binding("a", "use_stats", "Use the mean/std as data.normalize", show=False),
        Binding("e", "edit_settings", "Settings"),
        Binding("p", "toggle_preview", "Preview"),
        Binding("i", "issues", "Issues"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: DatasetView | None = None
        self.class_filter: str | None = None  # the class being browsed; None: all
        self.indices: list[int] = []
        self.position = 0
        self.show_preview = False
        self._opened: DataConfig | None = None
        self._config_source: dict[str, Any] = {}
        self._stats: tuple[list[float], list[float]] | None = None  # the last mean/std `m` computed

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Static(id="source")
                yield OptionList(id="classes")
            with Vertical(id="main"):
                yield Static(id="status")
                with TabbedContent(id="tabs"):
                    with TabPane("Sample", id="sample-tab"):
                        with Horizontal(id="images"):
                            with Vertical(id="before-box"):
                                yield Label("original", classes="caption")
                                yield ImageView(id="image")
                            with Vertical(id="after-box"):
                                yield Label("model input", id="after-caption", classes="caption")
                                yield ImageView(id="after")
                        yield Static(id="sample-info")
                    with TabPane("Health", id="health-tab"):
                        with VerticalScroll(id="report"):
                            yield Static(id="stats")
                            yield Static(HEALTH_HINT, id="health", classes="muted")

    def on_mount(self) -> None:
        self.query_one("#classes").border_title = "classes  train/val"
        data = self.workspace.config.data.model_dump(mode="json")
        self._config_source = {key: data[key] for key in SOURCE_KEYS}
        self.call_after_refresh(self.open_data)  # its worker imports torch: not before the first frame

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._opened is not None and self.workspace.config.data != self._opened:
            self.open_data()

    # -- choosing the source -------------------------------------------------------------

    def open_data(self) -> None:
        """(Re)open the dataset the config names, in a worker."""
        data = self.workspace.config.data
        self._opened, self.view = data, None
        self._show_view(None)
        where = f"{data.source} at {data.path}" if data.path else data.source
        self.set_status(f"opening {where} …")
        self._open_worker(data, self.workspace.config.seed)

    @work(thread=True, exclusive=True, group="open")
    def _open_worker(self, data: DataConfig, seed: int) -> None:
        from core.data.inspect import DatasetView

        try:
            view = DatasetView.open(data, seed)
        except DataError as exc:
            self.app.call_from_thread(self._open_failed, data, str(exc))
        else:
            self.app.call_from_thread(self._opened_view, data, view)

    def _opened_view(self, data: DataConfig, view: DatasetView) -> None:
        if data is self._opened:
            self.view = view
            self.set_status("")
            self._show_view(view)
            if self.query_one("#tabs", TabbedContent).active == "health-tab":
                self.action_health()  # the report on screen is this data's, never the previous source's

    def _open_failed(self, data: DataConfig, message: str) -> None:
        if data is self._opened:
            self.set_status(message, error=True)

    def use_source(self, source: str, path: str | None = None, raise_errors: bool = False, **extra: Any) -> None:
        """Point the config at another source and open it; a config error is shown (or raised, for a form)."""
        try:
            renamed = self.workspace.use_source(source, path, **extra)
        except ConfigError as exc:
            if raise_errors:
                raise
            self.set_status(str(exc), error=True)
            return
        if renamed:
            self.notify(f"runs of this data will be named {renamed!r} (ctrl+s saves the config)", title="run name")
        self.refresh_title()
        self.open_data()

    def action_use_demo(self) -> None:
        self.use_source("shapes")

    def action_open_folder(self) -> None:
        self.ask_path("folder")

    def ask_path(self, source: str) -> None:
        """Ask for the path of a source that reads the person's own files (its current path filled in)."""
        entry = SOURCES[source]
        current = str(self._opened.path) if self._opened and self._opened.source == source else ""
        placeholder = (entry.keys.model_fields["path"].examples or ["path"])[0]
        self.app.push_screen(AskText(f"Open {entry.help}", current, placeholder), partial(self._path_chosen, source))

    def action_pick_folder(self) -> None:
        self.app.push_screen(FolderPicker(Path.cwd()), partial(self._path_chosen, "folder"))

    def _path_chosen(self, source: str, path: str | Path | None) -> None:
        if path:
            self.use_source(source, str(path))

    def action_choose_source(self) -> None:
        self.app.push_screen(SourcePicker(self._config_source), self._source_chosen)

    def _source_chosen(self, choice: str | None) -> None:
        if choice == "config":
            self.use_source(**self._config_source)
        elif choice == COMBINED or (choice is not None and not SOURCES[choice].needs_only_a_path()):
            self.edit_settings(choice)  # its other keys (a CSV's columns, a file-name pattern, the sources) too
        elif choice is not None and SOURCES[choice].needs_path:
            self.ask_path(choice)
        elif choice is not None:
            self.use_source(choice)

    # -- every data setting ----------------------------------------------------------------

    def action_edit_settings(self) -> None:
        self.edit_settings(self.workspace.config.data.source)

    def edit_settings(self, source: str) -> None:
        """The settings form for `source` (the config's own or a new one), applied when saved."""
        self.app.push_screen(EditData(self.workspace.config.to_plain(), source, self.apply_settings))

    def apply_settings(self, source: str, values: dict[KeyPath, Any]) -> None:
        """Write the form's values into the config, switching the source when it changed; raises ConfigError
        (the config as it was) so the form says why."""
        before = self.workspace.config.to_plain()
        where = set(source_keys(source))
        self.workspace.replace(with_values(before, {path: value for path, value in values.items()
                                                    if path[1] not in where}))
        chosen = {path[1]: value for path, value in values.items() if path[1] in where}
        if source != before["data"]["source"] or any(before["data"][key] != value for key, value in chosen.items()):
            try:
                self.use_source(source, **chosen, raise_errors=True)
            except ConfigError:
                self.workspace.replace(before)
                raise
        self.refresh_title()
        if self.workspace.config.data != self._opened:
            self.open_data()

    def action_issues(self) -> None:
        """The latest cross-validation's findings, to mark keep / exclude / relabel; the data is listed again after."""
        from screens.data_issues import IssuesScreen  # it needs torch, which the first frame goes without

        self.app.push_screen(IssuesScreen(mode=self.MODE), lambda wrote: self.open_data() if wrote else None)

    # -- classes and browsing ------------------------------------------------------------

    def _show_view(self, view: DatasetView | None) -> None:
        classes = self.query_one("#classes", OptionList)
        classes.clear_options()
        self.class_filter, self.indices, self.position = None, [], 0
        self.query_one("#source", Static).update(self._source_text(view))
        self.query_one("#stats", Static).update("")
        self._stats = None
        health = self.query_one("#health", Static)
        health.update(HEALTH_HINT)
        health.add_class("muted")
        if view is None:
            self._show_sample(None, None)
            return
        counts = view.counts()
        classes.add_options(class_options(counts))
        classes.highlighted = 0
        self._browse(view, None)

    def _source_text(self, view: DatasetView | None) -> Text:
        data = self._opened
        text = Text.assemble(("source ", "bold"), data.source if data else "-")
        if data and data.path:
            width = max(8, self.query_one("#source", Static).content_size.width or SIDEBAR_TEXT_WIDTH)
            text.append(f"\n{shorten_left(str(data.path), width)}")
        if view is not None:
            counts = view.counts()
            text.append(f"\n{sum(c.train for c in counts)} train, {sum(c.val for c in counts)} val, "
                        f"{len(counts)} classes")
        return text

    @on(OptionList.OptionHighlighted, "#classes")
    def _class_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        label = event.option.id or None
        if self.view is not None and label != self.class_filter:
            self._browse(self.view, label)

    def _browse(self, view: DatasetView, label: str | None) -> None:
        self.class_filter, self.indices, self.position = label, view.indices_of(label), 0
        self.load_sample()

    def action_step(self, delta: int) -> None:
        """Show the next (delta 1) or previous (-1) sample of the class being browsed."""
        if self.indices:
            self.position = (self.position + delta) % len(self.indices)
            self.query_one("#tabs", TabbedContent).active = "sample-tab"
            self.load_sample()

    def action_next_class(self, delta: int) -> None:
        """Browse the next or previous class in the list (the first entry is "all")."""
        classes = self.query_one("#classes", OptionList)
        if classes.option_count:
            classes.highlighted = ((classes.highlighted or 0) + delta) % classes.option_count

    def action_toggle_preview(self) -> None:
        """Show the model's input beside the image (or hide it); from the health tab, show the sample with it."""
        tabs = self.query_one("#tabs", TabbedContent)
        self.show_preview = not self.show_preview or tabs.active != "sample-tab"
        tabs.active = "sample-tab"
        self.set_class(self.show_preview, "-preview")
        self.load_sample()

    # -- one sample ------------------------------------------------------------------------

    def load_sample(self) -> None:
        """Decode the current sample (and its preview) in a worker."""
        if self.view is None or not self.indices:
            return
        index = self.indices[self.position]
        self.query_one("#sample-info", Static).update(self._where("loading …"))
        augment = self.view.data.augment.enabled
        self._sample_worker(self.view, index, self.show_preview, augment)

    @work(thread=True, exclusive=True, group="sample")
    def _sample_worker(self, view: DatasetView, index: int, preview: bool, augment: bool) -> None:
        try:
            image, info = view.sample(index)
            after = view.preview(index, augment=augment)[1] if preview else None
        except DataError as exc:
            self.app.call_from_thread(self._sample_failed, view, index, str(exc))
        else:
            self.app.call_from_thread(self._sample_loaded, view, index, image, info, after)

    def _is_current(self, view: DatasetView, index: int) -> bool:
        return view is self.view and bool(self.indices) and self.indices[self.position] == index

    def _sample_loaded(self, view: DatasetView, index: int, image: Image.Image, info: SampleInfo,
                       after: Image.Image | None) -> None:
        if self._is_current(view, index):
            self._show_sample(image, after)
            self.query_one("#sample-info", Static).update(self._sample_text(info))

    def _sample_failed(self, view: DatasetView, index: int, message: str) -> None:
        if self._is_current(view, index):
            self._show_sample(None, None)
            self.query_one("#sample-info", Static).update(self._where(Text(message, "bold")))

    def _show_sample(self, image: Image.Image | None, after: Image.Image | None) -> None:
        self.query_one("#image", ImageView).set_image(image)
        self.query_one("#after", ImageView).set_image(after)
        if self._opened is not None:
            height, width = self._opened.image_size
            augmented = ", augmented" if self._opened.augment.enabled else ""
            self.query_one("#after-caption", Label).update(f"model input {width}x{height}{augmented}")
        if image is None:
            self.query_one("#sample-info", Static).update("")

    def _where(self, detail: str | Text) -> Text:
        """'3/8 in circle' (or 'in all') followed by detail."""
        scope = self.class_filter if self.class_filter is not None else "all"
        return Text.assemble((f"{self.position + 1}/{len(self.indices)} in {scope}", "bold"), "  ", detail)

    def _sample_text(self, info: SampleInfo) -> Text:
        text = self._where(Text.assemble((info.label, "bold"), f" ({info.split})"))
        width = max(8, self.query_one("#sample-info", Static).content_size.width or 40)
        text.append(f"\n{self._short(info.path, width) if info.path else f'in-memory sample {info.index}'}")
        text.append(f"\n{info.size[0]}x{info.size[1]} {info.mode}")
        return text

    def _short(self, path: Path, width: int | None = None) -> str:
        """A sample's path relative to the data root when it lies inside it, cut from the left to `width`."""
        root = Path(self._opened.path).expanduser().absolute() if self._opened and self._opened.path else None
        text = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)
        return shorten_left(text, width) if width else text

    # -- health and statistics -------------------------------------------------------------

    def action_health(self) -> None:
        if self.view is not None:
            self.query_one("#tabs", TabbedContent).active = "health-tab"
            self.set_status("checking every image …")
            self._health_worker(self.view)

    @work(thread=True, exclusive=True, group="health")
    def _health_worker(self, view: DatasetView) -> None:
        try:
            report = view.health(self._progress_reporter(view, "checking images"))
        except DataError as exc:
            self.app.call_from_thread(self._report_failed, view, str(exc))
        else:
            self.app.call_from_thread(self._health_done, view, report)

    def _health_done(self, view: DatasetView, report: HealthReport) -> None:
        if view is self.view:
            self.set_status("")
            health = self.query_one("#health", Static)
            health.remove_class("muted")
            width = max(20, self.query_one("#report").content_size.width - 4)
            health.update(health_text(report, lambda path: self._short(path, width)))

    def action_mean_std(self) -> None:
        if self.view is not None:
            self.query_one("#tabs", TabbedContent).active = "health-tab"
            self.set_status("computing mean and std …")
            self._stats_worker(self.view)

    @work(thread=True, exclusive=True, group="stats")
    def _stats_worker(self, view: DatasetView) -> None:
        try:
            mean, std = view.mean_std()
        except DataError as exc:
            self.app.call_from_thread(self._report_failed, view, str(exc))
        else:
            self.app.call_from_thread(self._stats_done, view, mean, std)

    def _stats_done(self, view: DatasetView, mean: list[float], std: list[float]) -> None:
        if view is self.view:
            self.set_status("")
            self._stats = mean, std
            self.query_one("#stats", Static).update(stats_text(mean, std))

    def action_use_stats(self) -> None:
        """Make the computed mean and std the config's data.normalize (rounded as shown)."""
        if self._stats is None:
            self.notify("m computes the mean and std first")
            return
        mean, std = ([round(value, 4) for value in values] for values in self._stats)
        self.workspace.update("data", normalize={"mean": mean, "std": std})
        self._opened = self.workspace.config.data  # the same images: nothing to list again
        self.refresh_title()
        self.notify(f"data.normalize is now mean {mean}, std {std} (ctrl+s saves the config)")

    def _report_failed(self, view: DatasetView, message: str) -> None:
        if view is self.view:
            self.set_status(message, error=True)

    def _progress_reporter(self, view: DatasetView, what: str) -> Callable[[int, int], None]:
        """A progress callback for a worker thread that updates the status line a few times a second."""
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S and view is self.view:
                last[0] = now
                self.app.call_from_thread(self.set_status, f"{what} {done}/{total} …")

        return report

    def set_status(self, message: str, error: bool = False) -> None:
        """The line above the tabs: progress, or an error (in the error colour)."""
        status = self.query_one("#status", Static)
        status.update(Text(message))
        status.set_class(error, "error")
        status.display = bool(message)


def class_options(counts: list[ClassCount]) -> list[Option]:
    """'all' then one entry per class: name, a bar scaled to the largest class, train/val counts.

    The bar gives up cells to wide counts (60000/10000), so every row stays on one line of the sidebar.
    """
    largest = max((c.train + c.val for c in counts), default=0) or 1
    total = f"{sum(c.train for c in counts)}/{sum(c.val for c in counts)}"
    bar_width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, ROW_WIDTH - NAME_WIDTH - 2 - len(total)))
    options = [Option(Text(f"{'all':<{NAME_WIDTH}} {'':<{bar_width}} {total}"))]
    for count in counts:
        filled = round(bar_width * (count.train + count.val) / largest)
        name = count.name if len(count.name) <= NAME_WIDTH else count.name[:NAME_WIDTH - 1] + "…"
        prompt = Text.assemble(f"{name:<{NAME_WIDTH}} ", ("█" * filled, "bold"),
                               " " * (bar_width - filled), f" {count.train}/{count.val}")
        options.append(Option(prompt, id=count.name))
    return options


def health_text(report: HealthReport, short: Callable[[Path], str]) -> Text:
    """The health report as lines: totals, imbalance, sizes, modes, unreadable files, duplicates."""
    text = Text.assemble(("health ", "bold"), f"{report.total} images, {len(report.classes)} classes\n")
    text.append("imbalance: ")
    text.append(report.imbalance or "none (largest class at most 3x the smallest)",
                "bold" if report.imbalance else "")
    if report.without_val:
        them = "it" if len(report.without_val) == 1 else "them"
        text.append(f"\nno validation images: {', '.join(report.without_val)} (val_accuracy leaves {them} out; "
                    "add some or raise data.val_split)", "bold")
    text.append("\nsizes: " + tally((f"{w}x{h}" for w, h in report.sizes), report.sizes.values()))
    text.append("\nmodes: " + tally(report.modes, report.modes.values()))
    text.append(f"\nunreadable or skipped: {len(report.unreadable)}", "bold" if report.unreadable else "")
    for skipped in report.unreadable:
        text.append(f"\n  {short(skipped.path)}: {skipped.reason}")
    if report.skipped_folders:
        text.append(f"\nfolders skipped (never classes): {len(report.skipped_folders)}")
        for folder in report.skipped_folders:
            text.append(f"\n  {short(folder.path)}/: {folder.reason}")
    text.append(f"\nduplicate groups: {len(report.duplicates)}")
    for group in report.duplicates:
        text.append("\n  " + " = ".join(short(path) for path in group))
    return text


def tally(names, counts, shown: int = 6) -> str:
    """'16x16 ×40, 32x32 ×2' (the most common first, as given), the rest summed up."""
    pairs = list(zip(names, counts))
    text = ", ".join(f"{name} ×{count}" for name, count in pairs[:shown])
    rest = sum(count for _, count in pairs[shown:])
    return text + (f", {len(pairs) - shown} more ×{rest}" if rest else "") if pairs else "-"


def stats_text(mean: list[float], std: list[float]) -> Text:
    """Mean and std per channel, as a config's data.normalize would take them."""
    return Text.assemble(("mean/std ", "bold"), "of the training images at image_size, per channel\n",
                         f"mean: [{', '.join(f'{m:.4f}' for m in mean)}]\n",
                         f"std:  [{', '.join(f'{s:.4f}' for s in std)}]\n",
                         ("a: use them as data.normalize\n", "dim"))
