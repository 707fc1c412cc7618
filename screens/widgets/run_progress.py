"""A run's progress: the epoch and the whole run as bars with the time left, speed, loss and lr.

`Eta` estimates from the events' own times: batches per second over a recent window of the
current epoch, plus validation as long as the last epoch's took (estimated from the set sizes
until one has been measured). A run with a time budget ends when its plan says: that is exact.
Before training, the same rows show the data being prepared.
"""
from __future__ import annotations

import math
import time
from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from core.train.events import BatchEnded, BudgetPlanned, DataProgress, EpochEnded, RunResumed, RunStarted

WINDOW_SECONDS = 30.0  # the speed is measured over this much of the latest batches
VAL_SHARE_OF_TRAIN = 0.4  # validation time per image against training's, until measured (forward only)


def format_duration(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    minutes, secs = divmod(max(round(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Eta:
    """Time left in the current epoch and in the run, validation included."""

    def __init__(self) -> None:
        self.epochs = 0
        self.batches = 0  # per epoch
        self.val_share = 0.0  # validation images per training image
        self.val_seconds: float | None = None  # the last epoch's validation, measured
        self.epochs_done = 0
        self.batch = 0  # batches done in the current epoch
        self.anchor: float | None = None  # time of the latest event
        self.batch_end: float | None = None  # time the current epoch's last batch ended (validation since)
        self.marks: deque[tuple[float, int, int]] = deque()  # (time, epoch, batch) of recent BatchEnded
        self.rate: float | None = None  # batches per second
        self.ends_at: float | None = None  # a time budget's planned end

    def started(self, event: RunStarted) -> None:
        """A new training process (a resumed run's too): its speed is measured afresh, never taken from before."""
        self.epochs, self.batches = event.epochs, event.batches_per_epoch
        self.val_share = event.val_samples / max(event.train_samples, 1)
        self.anchor = event.time
        self.marks.clear()
        self.rate = self.val_seconds = self.batch_end = None

    def planned(self, event: BudgetPlanned) -> None:
        self.epochs, self.ends_at = math.ceil(event.epochs), event.ends_at

    def resumed(self, event: RunResumed) -> None:
        self.epochs_done, self.batch, self.anchor = event.epoch, event.batch, event.time
        self.marks.clear()

    def batch_ended(self, event: BatchEnded) -> None:
        self.epochs_done, self.batch, self.batches = event.epoch - 1, event.batch, event.batches
        self.anchor = event.time
        self.batch_end = event.time if event.batch >= event.batches else None
        self.marks.append((event.time, event.epoch, event.batch))
        while len(self.marks) > 2 and event.time - self.marks[0][0] > WINDOW_SECONDS:
            self.marks.popleft()
        self.rate = self._rate() or self.rate

    def epoch_ended(self, event: EpochEnded) -> None:
        if self.batch_end is not None:
            self.val_seconds = event.time - self.batch_end
        self.epochs_done, self.batch, self.epochs, self.anchor, self.batch_end = (
            event.epoch, 0, event.epochs, event.time, None)

    def _rate(self) -> float | None:
        """Batches per second between the window's events of the same epoch (validation left out)."""
        batches = seconds = 0.0
        for (t0, e0, b0), (t1, e1, b1) in zip(self.marks, list(self.marks)[1:]):
            if e0 == e1 and t1 > t0:
                batches, seconds = batches + b1 - b0, seconds + t1 - t0
        return batches / seconds if batches > 0 and seconds > 0 else None

    def _validation(self) -> float:
        if self.val_seconds is not None:
            return self.val_seconds
        return self.batches / self.rate * self.val_share * VAL_SHARE_OF_TRAIN if self.rate else 0.0

    def epoch_left(self, now: float | None = None) -> float | None:
        """Seconds until the current epoch has been validated; None until the speed is known."""
        if not self.rate or self.anchor is None:
            return None
        if self.epochs_done >= self.epochs:
            return 0.0
        now = time.time() if now is None else now
        left = (self.batches - self.batch) / self.rate + self._validation()
        return max(left - (now - self.anchor), 0.0)

    def run_left(self, now: float | None = None) -> float | None:
        """Seconds until the last epoch has been validated."""
        if self.ends_at is not None:
            return max(self.ends_at - (time.time() if now is None else now), 0.0)
        epoch = self.epoch_left(now)
        if epoch is None or not self.rate:  # epoch_left is None until the rate is known
            return None
        later = max(self.epochs - self.epochs_done - 1, 0)
        return epoch + later * (self.batches / self.rate + self._validation())


class RunProgress(Vertical):
    """Two rows: the epoch (or the data preparation) and the run, each a bar with what is left."""

    DEFAULT_CSS = """
    RunProgress { height: 2; }
    RunProgress > Horizontal { height: 1; }
    RunProgress .progress-title { width: 14; }
    RunProgress ProgressBar, RunProgress Bar { width: 1fr; }
    RunProgress .progress-detail { width: 44; padding-left: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.eta = Eta()
        self.last_batch: BatchEnded | None = None
        self.preparing: DataProgress | None = None
        self.prepare_first: DataProgress | None = None  # the stage's first event, for its speed
        self.finished = False
        self.rows: dict[str, tuple] = {}  # what each row shows

    def compose(self) -> ComposeResult:
        for row in ("epoch", "run"):
            with Horizontal(id=f"{row}-row"):
                yield Label(row, id=f"{row}-title", classes="progress-title")
                yield ProgressBar(total=1, show_percentage=False, show_eta=False, id=f"{row}-bar")
                yield Label("", id=f"{row}-detail", classes="progress-detail")

    def reset(self) -> None:
        self.eta, self.last_batch, self.preparing, self.finished = Eta(), None, None, False
        for row in ("epoch", "run"):
            self._row(row, row, 0, 1, "")

    def data_progress(self, event: DataProgress) -> None:
        if self.preparing is None or event.done < self.preparing.done or event.stage != self.preparing.stage:
            self.prepare_first = event
        self.preparing = event
        self.show()

    def started(self, event: RunStarted) -> None:
        self.preparing = None
        self.eta.started(event)
        self.show()

    def resumed(self, event: RunResumed) -> None:
        self.eta.resumed(event)
        self.show()

    def planned(self, event: BudgetPlanned) -> None:
        self.eta.planned(event)
        self.show()

    def batch_ended(self, event: BatchEnded) -> None:
        """Kept: `show` (every second) draws it."""
        self.eta.batch_ended(event)
        self.last_batch = event

    def epoch_ended(self, event: EpochEnded) -> None:
        self.eta.epoch_ended(event)
        self.show()

    def stopped(self) -> None:
        """The run has ended: no more time left to count down."""
        self.finished = True
        self.show()

    def show(self, now: float | None = None) -> None:
        """Redraw the rows (the time left counts down between events: call every second)."""
        now = time.time() if now is None else now
        if self.preparing is not None:
            self._show_preparing(self.preparing, now)
            return
        eta, batch = self.eta, self.last_batch
        epoch_left = None if self.finished else eta.epoch_left(now)
        run_left = None if self.finished else eta.run_left(now)
        current = min(eta.epochs_done + 1, eta.epochs) if eta.epochs else eta.epochs_done + 1
        speed = f" · {batch.samples_per_second:,.0f} samples/s" if batch else ""
        done = eta.batches if eta.epochs and eta.epochs_done >= eta.epochs else eta.batch  # the last epoch: whole
        self._row("epoch", f"epoch {current}/{eta.epochs or '?'}", done, eta.batches or 1,
                  f"{done}/{eta.batches or '?'}{_left(epoch_left)}{speed}")
        total = max(eta.epochs * eta.batches, 1)
        done = min(eta.epochs_done * eta.batches + eta.batch, total)
        stats = f" · loss {batch.loss:.4f} · lr {batch.lr:.3g}" if batch else ""
        self._row("run", "run", done, total, f"{done / total:.0%}{_left(run_left)}{stats}")

    def _show_preparing(self, event: DataProgress, now: float) -> None:
        first = self.prepare_first or event
        rate = (event.done - first.done) / (event.time - first.time) if event.time > first.time else 0.0
        left = (event.total - event.done) / rate - (now - event.time) if rate > 0 else None
        self._row("epoch", "preparing", event.done, event.total or 1,
                  f"{event.stage} {event.done:,}/{event.total:,}{_left(left)}")
        self._row("run", "run", 0, 1, "training starts once the data is ready")

    def _row(self, row: str, title: str, done: float, total: float, detail: str) -> None:
        """Update what changed only: an update costs a repaint, taken from the training it shows."""
        shown = (title, done, total, detail)
        if self.rows.get(row) == shown:
            return
        self.rows[row] = shown
        self.query_one(f"#{row}-title", Label).update(title)
        self.query_one(f"#{row}-bar", ProgressBar).update(total=total, progress=done)
        self.query_one(f"#{row}-detail", Label).update(detail)


def _left(seconds: float | None) -> str:
    return f" · {format_duration(max(seconds, 0))} left" if seconds is not None else ""
