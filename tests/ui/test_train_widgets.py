"""The Train screen's widgets on their own: the time-left estimate and the chart with axes."""
from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from core.train.events import BatchEnded, EpochEnded, RunResumed, RunStarted
from screen_text import screen_lines
from screens.widgets.line_chart import LineChart, Series, _tick_step, _y_range
from screens.widgets.run_progress import Eta, format_duration


def started(epochs: int = 4, batches: int = 10, train: int = 100, val: int = 50, at: float = 0.0) -> RunStarted:
    return RunStarted(run_dir="r", name="n", device="cpu", epochs=epochs, classes=["a"], train_samples=train,
                      val_samples=val, batches_per_epoch=batches, parameters=1, skipped_files=0, time=at)


def batch(epoch: int, number: int, at: float, batches: int = 10) -> BatchEnded:
    return BatchEnded(epoch=epoch, batch=number, batches=batches, step=number, loss=1.0, samples_per_second=10.0,
                      time=at)


def epoch_ended(epoch: int, at: float, epochs: int = 4) -> EpochEnded:
    return EpochEnded(epoch=epoch, epochs=epochs, train_loss=1.0, val_loss=1.0, val_accuracy=0.5, lr=0.1,
                      seconds=7.0, samples_per_second=10.0, time=at)


def test_format_duration():
    assert [format_duration(s) for s in (0, 7.4, 75, 3723)] == ["0:00", "0:07", "1:15", "1:02:03"]


def test_eta_from_the_speed_and_the_measured_validation():
    eta = Eta()
    eta.started(started())
    assert eta.epoch_left(0.0) is None  # no speed yet
    for number in range(1, 11):  # a batch every 0.5 s
        eta.batch_ended(batch(1, number, 0.5 * number))
    assert eta.rate == pytest.approx(2.0)
    # validation not measured yet: estimated from 50 val / 100 train images, 5 s of training, forward only
    assert eta.epoch_left(5.0) == pytest.approx(5.0 * 0.5 * 0.4)
    eta.epoch_ended(epoch_ended(1, 7.0))  # validation took 2 s
    assert eta.val_seconds == pytest.approx(2.0)
    assert eta.epoch_left(7.0) == pytest.approx(5.0 + 2.0)  # the next epoch: 10 batches at 2/s, then validation
    assert eta.run_left(7.0) == pytest.approx(3 * 7.0)
    assert eta.epoch_left(9.0) == pytest.approx(5.0)  # it counts down between events
    for number in range(1, 5):
        eta.batch_ended(batch(2, number, 7.0 + 0.5 * number))
    assert eta.epoch_left(9.0) == pytest.approx(3.0 + 2.0)
    assert eta.run_left(9.0) == pytest.approx(5.0 + 2 * 7.0)


def test_eta_leaves_validation_out_of_the_speed_and_follows_a_resume():
    eta = Eta()
    eta.started(started())
    for number in range(1, 11):
        eta.batch_ended(batch(1, number, float(number)))
    eta.epoch_ended(epoch_ended(1, 30.0))  # a slow validation
    eta.batch_ended(batch(2, 1, 31.0))
    eta.batch_ended(batch(2, 2, 32.0))
    assert eta.rate == pytest.approx(1.0)  # batches per second within epochs only
    eta.resumed(RunResumed(epoch=3, batch=0, step=30, time=40.0))
    assert eta.epochs_done == 3 and eta.batch == 0
    assert eta.run_left(40.0) == pytest.approx(10.0 + 20.0)  # the last epoch: 10 batches and validation


def test_after_a_resume_the_eta_uses_the_new_process_speed_only():
    eta = Eta()
    eta.started(started())
    for number in range(1, 11):  # the first process: slow, 1 batch a second
        eta.batch_ended(batch(1, number, float(number)))
    eta.epoch_ended(epoch_ended(1, 15.0))
    eta.started(started(at=100.0))  # resumed by a new process, as a followed run's events say
    eta.resumed(RunResumed(epoch=1, batch=0, step=10, time=101.0))
    eta.batch_ended(batch(2, 1, 102.0))
    assert eta.run_left(102.0) is None  # not the earlier process's speed
    for number in range(2, 11):  # 4 batches a second
        eta.batch_ended(batch(2, number, 102.0 + (number - 1) / 4))
    assert eta.rate == pytest.approx(4.0)
    eta.epoch_ended(epoch_ended(2, 105.0))  # validation 0.75 s
    assert eta.run_left(105.0) == pytest.approx(2 * (10 / 4 + 0.75))


def test_y_range_and_ticks():
    assert _y_range([]) == (0.0, 1.0)
    low, high = _y_range([0.5, 1.5])
    assert low == pytest.approx(0.45) and high == pytest.approx(1.55)
    assert _y_range([2.0, 2.0]) == (pytest.approx(1.8), pytest.approx(2.2))
    assert _y_range([0.01, 1.0])[0] == 0.0  # positive values never get a negative axis
    assert _tick_step(5, 70) == 1 and _tick_step(100, 70) == 10 and _tick_step(30, 70) == 5


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield LineChart(id="chart")


async def test_the_chart_draws_axes_series_and_the_mark_at_80x12():
    app = ChartApp()
    async with app.run_test(size=(80, 12)) as pilot:
        chart = app.query_one(LineChart)
        losses = [(i / 10, 2.0 - i / 25) for i in range(31)]
        chart.plot("loss", [Series("train", losses), Series("val", [(1, 1.7), (2, 1.4), (3, 1.0)], dots=True)],
                   x_max=5, mark=(3, "best 90.0% at epoch 3"), hint="c: accuracy")
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0].startswith("loss  ─ train  • val  ★ best 90.0% at epoch 3")
        assert lines[0].rstrip().endswith("c: accuracy")
        assert lines[1].lstrip().startswith("2.1 ┤") and "┤" in lines[9]  # top and bottom labelled
        assert lines[-2].lstrip().startswith("└┬") and "★" in lines[-2]
        assert lines[-1].split() == ["epoch", "0", "1", "2", "3", "4", "5"]
        assert sum(line.count("•") for line in lines[1:10]) == 3  # the val points
        assert any(any(0x2800 < ord(char) <= 0x28FF for char in line) for line in lines[1:10])  # the train line
        assert lines[-2].index("★") == lines[-1].index("3")  # the mark sits on its epoch's tick
