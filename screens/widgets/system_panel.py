"""The machine while a run trains: CPU, memory and GPUs live, and from each epoch whether it waits for data."""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.timer import Timer
from textual.widgets import Static

from core.config import RunConfig
from core.train.data_wait import input_bound_advice
from core.train.events import EpochEnded
from core.train.system import SystemSample

LIVE_SECONDS = 2.0  # how often the figures are refreshed while a run goes


class SystemPanel(Static):
    """One line of figures, and a second naming the keys to change when the loader is the bottleneck.

    The figures come from each epoch's event and, while a run goes, from a sample taken every few
    seconds; the data wait and its advice from the latest epoch. Hidden until there are figures, so an
    idle Train screen keeps its layout."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; max-height: 3; padding: 0 1; display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._figures: SystemSample | None = None
        self._data_wait: float | None = None
        self._advice: str | None = None
        self._live: Timer | None = None  # the refresh timer while a run goes
        self._sampling = False  # a sample is being taken: a slow one is never queued behind

    def show_epoch(self, event: EpochEnded, config: RunConfig) -> None:
        if not event.system:  # a run from before these figures were recorded
            return
        self._figures = SystemSample.from_dict(event.system)
        self._data_wait, self._advice = event.data_wait, input_bound_advice(event.data_wait, config)
        self._draw()

    def start_live(self, sample: Callable[[], SystemSample], every: float = LIVE_SECONDS) -> None:
        """Refresh the figures from `sample` every `every` seconds until `stop_live` or the process it watches
        ends (ProcessLookupError). It runs in a thread: psutil and NVML calls may block."""
        self.stop_live()
        self._live = self.set_interval(every, lambda: self._refresh(sample))

    @property
    def is_live(self) -> bool:
        return self._live is not None

    def stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def clear(self) -> None:
        """Forget the figures (a new run starts); a live refresh goes on."""
        self._figures = self._data_wait = self._advice = None
        self.update("")
        self.display = False

    def _refresh(self, sample: Callable[[], SystemSample]) -> None:
        if self._live is not None and not self._sampling:
            self._sampling = True
            self._take_sample(sample, self._live)

    @work(thread=True, group="system-sample", exit_on_error=False)
    def _take_sample(self, sample: Callable[[], SystemSample], timer: Timer) -> None:
        try:
            figures: SystemSample | None = sample()
        except ProcessLookupError:  # the run ended between two refreshes
            figures = None
        finally:
            self._sampling = False
        self.app.call_from_thread(self._show_live, figures, timer)

    def _show_live(self, figures: SystemSample | None, timer: Timer) -> None:
        if timer is not self._live:  # stopped, or restarted for another run, while the sample was taken
            return
        if figures is None:
            self.stop_live()
            return
        self._figures = figures
        self._draw()

    def _draw(self) -> None:
        if self._figures is None:
            return
        wait = f"  data wait {self._data_wait:.0%}" if self._data_wait is not None else ""
        text = Text(f"{self._figures.summary()}{wait}", style="dim")
        if self._advice:
            text.append(f"\n{self._advice}", style="yellow")
        self.update(text)
        self.display = True
