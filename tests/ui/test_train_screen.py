"""The Train screen: settings into the config, a real run started, followed and shown to the end."""
from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import pytest
from textual.widgets import DataTable, Input, Label, Log, OptionList, Select, Sparkline, Static

from core.config import TABLES
from core.errors import DataError
from core.train.events import BatchEnded, DataProgress, EpochEnded, RunFailed, RunFinished, RunStarted
from core.runs.launch import LaunchedRun
from screen_text import assert_footer_fits, screen_lines
from screens.dialogs import AskText, Choose, Confirm
from screens.param_dialogs import EditParams
from screens.run_monitor import BEST
from screens.train import TrainScreen
from screens.widgets.metric_chart import MetricChart
from waiting import field_focused, wait_until

pytestmark = pytest.mark.timeout(120)


def status_text(app) -> str:
    return str(app.screen.query_one("#train-status", Static).render())


async def test_a_run_is_started_followed_and_finished(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert status_text(app).startswith("ready")
        app.screen.query_one("#epochs", Input).value = "2"  # typed, not yet confirmed: start applies it

        await pilot.press("s")
        run = app.followed.run
        assert isinstance(run, LaunchedRun)
        await wait_until(pilot, lambda: not run.is_running and status_text(app).startswith("finished"))

        screen = app.screen
        assert app.workspace.config.train.epochs == 2
        assert screen.query_one("#epochs-table", DataTable).row_count == 2
        assert len(screen.query_one("#val-accuracy", MetricChart).values) == 2
        assert screen.query_one("#train-loss Sparkline", Sparkline).data
        assert "best val acc" in status_text(app)
        assert str(run.run_dir) in str(screen.query_one("#run-dir", Static).render())
        assert (run.run_dir / "checkpoints" / "best.pt").is_file()

        await pilot.press("r")  # extend the finished run by one epoch
        await pilot.pause()
        assert isinstance(app.screen, AskText) and app.screen.value == "4"
        await field_focused(pilot)
        await pilot.press("ctrl+a", "ctrl+k", "3", "enter")
        await wait_until(pilot, lambda: app.followed.run is not run)
        resumed = app.followed.run
        assert resumed.run_dir == run.run_dir
        await wait_until(pilot, lambda: not resumed.is_running and status_text(app).startswith("finished"))
        table = screen.query_one("#epochs-table", DataTable)
        assert table.row_count == 3 and [str(table.get_row_at(i)[0]).split()[0] for i in range(3)] == \
            ["1/2", "2/2", "3/3"]
        assert len(screen.query_one("#val-accuracy", MetricChart).values) == 3


async def test_settings_write_through_and_errors_are_shown(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.pause()
        screen = app.screen
        await pilot.click("#epochs")
        await pilot.press("end", *["backspace"] * 6, "7", "enter")
        assert app.workspace.config.train.epochs == 7 and app.workspace.dirty

        await pilot.click("#lr")
        await pilot.press("end", *["backspace"] * 6, "2", "0", "enter")
        error = screen.query_one("#settings-error", Static)
        assert error.display and "lr" in str(error.render())
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr

        screen.query_one("#optimizer").value = "adam"
        await pilot.pause()
        assert app.workspace.config.train.optimizer.name == "adam"
        await pilot.press("s")  # the bad lr stops the start
        assert app.followed.run is None


async def test_a_run_that_fails_shows_why(small_shapes_config, make_app, tmp_path):
    config = small_shapes_config.model_copy(update={"data": small_shapes_config.data.model_copy(
        update={"source": "folder", "path": str(tmp_path / "missing")})})
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        await pilot.press("s")
        await wait_until(pilot, lambda: status_text(app).startswith("failed"))
        assert "missing" in status_text(app)


async def open_train(app, pilot) -> TrainScreen:
    await app.switch_mode("train")
    await pilot.pause()
    assert isinstance(app.screen, TrainScreen)
    return app.screen


def offered(select: Select) -> list[str]:
    return [str(option.prompt) for option in select.query_one(OptionList).options]


def notifications(app, monkeypatch) -> list[str]:
    """The messages of app.notify from now on."""
    notes: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **_: notes.append(message))
    return notes


def fake_lr_find(monkeypatch, find_lr) -> None:
    """Make the screen's `from core.prepare.lr_find import find_lr` give `find_lr`."""
    module = ModuleType("core.prepare.lr_find")
    module.find_lr = find_lr
    monkeypatch.setitem(sys.modules, "core.prepare.lr_find", module)


async def test_choices_offer_exactly_the_tables_names(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        for key, table in TABLES.items():
            select = screen.query_one(f"#{key}", Select)
            assert offered(select) == list(table.names)
            assert select.value == getattr(app.workspace.config.train, key).name
        assert offered(screen.query_one("#precision", Select)) == ["fp32", "bf16", "fp16"]


async def test_switching_optimizer_keeps_shared_params_and_drops_the_rest(small_shapes_config, make_app):
    config = small_shapes_config.model_copy(deep=True)
    config.train.optimizer = TABLES["optimizer"].model("sgd")(lr=0.05, momentum=0.9, weight_decay=1e-4)
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        screen.query_one("#optimizer", Select).value = "adam"
        await pilot.pause()
        optimizer = app.workspace.config.train.optimizer.model_dump()
        assert optimizer["name"] == "adam" and "momentum" not in optimizer
        assert optimizer["lr"] == 0.05 and optimizer["weight_decay"] == 1e-4
        assert optimizer["betas"] == (0.9, 0.999)  # adam's own, from its defaults

        screen.query_one("#precision", Select).value = "bf16"
        await pilot.pause()
        assert app.workspace.config.train.precision == "bf16"


async def test_letter_keys_reach_the_screen_from_number_inputs(small_shapes_config, make_app, monkeypatch):
    calls = []
    monkeypatch.setattr(TrainScreen, "action_edit_params", lambda self: calls.append("p"))
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_train(app, pilot)
        await pilot.click("#lr")
        await pilot.press("end", *["backspace"] * 6, "2", "e", "-", "3", "p")
        assert app.screen.query_one("#lr", Input).value == "2e-3" and calls == ["p"]


@pytest.fixture
def one_cycle_app(small_shapes_config, make_app):
    """An app on the small config with the one_cycle schedule (the table entry with the most parameters)."""
    config = small_shapes_config.model_copy(deep=True)
    config.train.schedule = TABLES["schedule"].model("one_cycle")()
    return make_app(config)


async def open_params(app, pilot) -> EditParams:
    await open_train(app, pilot)
    await pilot.press("p")
    assert isinstance(app.screen, EditParams)
    return app.screen


async def test_params_dialog_edits_a_schedule_parameter_and_names_a_bad_key(one_cycle_app):
    app = one_cycle_app
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_params(app, pilot)
        assert dialog.query_one("#optimizer-lr", Input).value == "0.01"
        assert dialog.query_one("#schedule-three_phase", Select).value is False

        field = dialog.query_one("#schedule-pct_start", Input)
        field.value = "1.5"
        field.focus()
        await pilot.press("enter")
        assert app.screen is dialog
        error = str(dialog.query_one("#form-error", Static).render())
        assert "pct_start" in error
        assert app.workspace.config.train.schedule.pct_start == 0.25

        field.value = "0.4"
        dialog.query_one("#optimizer-lr", Input).value = "0.02"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert app.workspace.config.train.schedule.pct_start == 0.4 and app.workspace.dirty
        assert app.screen.query_one("#lr", Input).value == "0.02"  # the form's lr shown on the screen

        dialog = await open_params(app, pilot)
        dialog.query_one("#schedule-pct_start", Input).value = "0.3"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert app.workspace.config.train.schedule.pct_start == 0.4


async def test_params_dialog_fits_80x24_and_scrolls(one_cycle_app):
    app = one_cycle_app
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_params(app, pilot)
        box = dialog.query_one("#form").region
        assert box.right <= 80 and box.bottom <= 24
        assert dialog.query_one("#save").region.bottom <= box.bottom
        last = dialog.query_one("#schedule-max_momentum", Input)
        last.focus()  # scrolls it into view, after a refresh or two: longer on a busy machine
        fields = dialog.query_one("#param-fields")
        await wait_until(pilot, lambda: fields.region.contains_region(last.region), deadline=10)


@dataclass
class FakeResult:
    lrs: list[float]
    losses: list[float]
    suggestion: float
    reason: str


async def test_lr_find_fills_in_the_suggestion(small_shapes_config, make_app, monkeypatch):
    seen = {}

    def fake_find_lr(config, *, steps=100, should_stop=lambda: False, progress=None):
        seen["config"] = config
        for step in range(steps):
            if progress:
                progress(step + 1, steps)
        return FakeResult([1e-5, 1e-1], [2.0, 9.0], 0.0031622, "steepest descent of the smoothed loss")

    fake_lr_find(monkeypatch, fake_find_lr)
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.workspace.config.train.optimizer.lr == 0.00316, deadline=30)
        assert seen["config"].name == small_shapes_config.name
        assert screen.query_one("#lr", Input).value == "0.00316"
        assert status_text(app).startswith("ready")
        assert notes == ["suggested lr 0.00316: steepest descent of the smoothed loss"]


async def test_lr_find_errors_show_in_the_status_line(small_shapes_config, make_app, monkeypatch):
    def failing(config, **_):
        raise DataError("no images found under data/")

    fake_lr_find(monkeypatch, failing)
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: status_text(app).startswith("failed"), deadline=30)
        assert "no images found" in status_text(app)
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr


async def test_lr_find_with_the_real_finder(small_shapes_config, make_app, monkeypatch):
    pytest.importorskip("core.prepare.lr_find")
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        await pilot.press("l")
        await wait_until(pilot, lambda: not screen.finding_lr, deadline=60)
        assert status_text(app).startswith("ready"), status_text(app)
        lr = app.workspace.config.train.optimizer.lr
        assert len(notes) == 1 and notes[0].startswith(f"suggested lr {lr:g}: ")
        assert screen.query_one("#lr", Input).value == f"{lr:g}"


async def test_lr_find_is_refused_during_a_run_and_x_stops_it(small_shapes_config, make_app, monkeypatch):
    def until_stopped(config, *, steps=100, should_stop=lambda: False, progress=None):
        while not should_stop():
            time.sleep(0.01)
        return FakeResult([1e-5], [2.0], 0.5, "a stopped finder's result must not be used")

    fake_lr_find(monkeypatch, until_stopped)
    app = make_app(small_shapes_config)
    notes = notifications(app, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        app.followed.run = SimpleNamespace(is_running=True)
        await pilot.press("l")  # not offered while a run goes
        assert not screen.finding_lr and screen.check_action("find_lr", ()) is False

        app.followed.run = None
        await pilot.press("l")
        await wait_until(pilot, lambda: status_text(app).startswith("finding lr"), deadline=10)
        await pilot.press("s")
        assert app.followed.run is None and "lr finder is running" in notes[-1]
        await pilot.press("x")
        await wait_until(pilot, lambda: not screen.finding_lr, deadline=10)
        assert status_text(app).startswith("ready")
        assert app.workspace.config.train.optimizer.lr == small_shapes_config.train.optimizer.lr


# The flows of issue 11 at both sizes, on a scripted run (no child process: fast and exact).

SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])


class ScriptedRun:
    """Stands in for core.runs.launch.LaunchedRun: yields scripted events, then runs until `end()`."""

    starts: list["ScriptedRun"] = []
    script: list = []

    def __init__(self, config=None, run_dir=None, resume=None, extension=None) -> None:
        self.config, self.run_dir, self.resume, self.extension = config, run_dir, resume, extension
        self.is_running, self.state, self.error_text, self.stopped = True, "running", None, False
        self.pid = os.getpid()  # a live process, as a run's child is: the system panel watches it
        self.events = list(ScriptedRun.script)
        self._ended = asyncio.Event()

    @classmethod
    def start(cls, config, runs_dir, resume=None, extension=None):
        run = cls(config, resume, resume, extension)
        cls.starts.append(run)
        return run

    def stop(self) -> None:
        self.stopped = True

    def end(self, *events) -> None:
        self.events.extend(events)
        self._ended.set()

    async def follow(self):
        sent = 0
        while True:
            while sent < len(self.events):
                sent += 1
                yield self.events[sent - 1]
            if self._ended.is_set() and sent == len(self.events):
                break
            await asyncio.sleep(0.02)
        self.is_running = False
        self.state = next((e.status for e in self.events if isinstance(e, RunFinished)), "failed")


@pytest.fixture
def scripted(monkeypatch):
    """LaunchedRun replaced by ScriptedRun; returns the list of runs started."""
    monkeypatch.setattr("core.runs.launch.LaunchedRun", ScriptedRun)
    ScriptedRun.starts, ScriptedRun.script = [], []
    return ScriptedRun.starts


def run_events(epochs: int = 5, accuracies=(0.5, 0.8, 0.7), run_dir: str = "runs/x") -> list:
    """A run two-thirds through its fourth epoch of `epochs`, its events timed up to now."""
    now = time.time()
    start = now - 20
    events = [RunStarted(run_dir=run_dir, name="ui-test", device="cpu (2 threads)", epochs=epochs,
                         classes=list("abcde"), train_samples=30, val_samples=10, batches_per_epoch=12,
                         parameters=1285, skipped_files=0, warnings=["no validation images for class e"],
                         time=start)]
    moment = start
    for epoch, accuracy in enumerate(accuracies, start=1):
        for batch in range(1, 13):
            moment += 0.4
            events.append(BatchEnded(epoch=epoch, batch=batch, batches=12, step=(epoch - 1) * 12 + batch,
                                     loss=2.0 / (epoch + batch / 12), samples_per_second=75.0, lr=0.01, time=moment))
        moment += 0.8
        events.append(EpochEnded(epoch=epoch, epochs=epochs, train_loss=1.5 / epoch, val_loss=1.6 / epoch,
                                 val_accuracy=accuracy, lr=0.01, seconds=5.6, samples_per_second=75.0, time=moment))
    for batch in range(1, 9):
        moment = min(moment + 0.4, now)
        events.append(BatchEnded(epoch=len(accuracies) + 1, batch=batch, batches=12, step=batch, loss=0.4,
                                 samples_per_second=80.0, lr=0.01, time=moment))
    return events


def finished(epochs_done: int = 5, best_epoch: int = 2, best: float = 0.8, status: str = "finished") -> RunFinished:
    return RunFinished(status=status, epochs_done=epochs_done, best_epoch=best_epoch, best_val_accuracy=best,
                       seconds=30.0, run_dir="runs/x")


async def start_scripted(app, pilot) -> TrainScreen:
    """The Train screen, its run started with `s` (a ScriptedRun under the `scripted` fixture)."""
    screen = await open_train(app, pilot)
    await pilot.press("s")
    return screen


def text_of(app) -> str:
    return "\n".join(screen_lines(app))


def progress_text(screen) -> str:
    return " | ".join(str(label.render()) for label in screen.query("#run-progress Label").results(Label))


@SIZES
@pytest.mark.parametrize("leave", ["escape", "enter"])
async def test_edit_a_field_leave_it_and_s_starts(small_shapes_config, make_app, scripted, size, leave):
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_train(app, pilot)
        await pilot.click("#epochs")
        assert app.focused is screen.query_one("#epochs", Input)
        await pilot.press("end", "backspace", "backspace", "4", leave)
        await pilot.pause()
        assert not isinstance(app.focused, Input)  # the field was left
        await pilot.press("s")
        assert len(scripted) == 1 and scripted[0].config.train.epochs == 4
        assert app.workspace.config.train.epochs == 4


@SIZES
async def test_s_starts_from_a_choice_field(small_shapes_config, make_app, scripted, size):
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_train(app, pilot)
        screen.query_one("#optimizer", Select).focus()
        await pilot.press("enter")  # open the choices
        await pilot.pause()
        await pilot.press("down", "enter")  # adam, chosen: the choice keeps the focus
        await pilot.pause()
        assert isinstance(app.focused, Select)
        await pilot.press("s")
        assert len(scripted) == 1 and scripted[0].config.train.optimizer.name == "adam"


async def test_a_field_being_edited_is_visibly_focused(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        field = screen.query_one("#lr", Input)
        before = field.styles.background
        await pilot.click("#lr")
        await pilot.pause()
        assert field.styles.background != before
        assert field.parent.styles.background.a > 0  # the setting's label too
        await pilot.press("escape")
        await pilot.pause()
        assert field.styles.background == before and field.parent.styles.background.a == 0


@SIZES
async def test_eta_best_epoch_chart_and_warnings_while_running(small_shapes_config, make_app, scripted, size):
    ScriptedRun.script = run_events()
    app = make_app(small_shapes_config)
    async with app.run_test(size=size) as pilot:
        screen = await start_scripted(app, pilot)
        table = screen.query_one("#epochs-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 3 and "8/12" in progress_text(screen), deadline=10)
        progress = progress_text(screen)
        assert "epoch 4/5" in progress and progress.count(" left") == 2 and "80 samples/s" in progress
        assert "loss 0.4000" in progress and "lr 0.01" in progress
        eta, moment = screen.query_one("#run-progress").eta, ScriptedRun.script[-1].time  # the script's clock
        epoch_left, run_left = eta.epoch_left(moment), eta.run_left(moment)
        assert 0 < epoch_left < run_left  # 4 batches and validation; then the fifth epoch too
        assert str(table.get_row("2")[0]).endswith(BEST) and not str(table.get_row("3")[0]).endswith(BEST)
        assert "best 80.0% at epoch 2" in text_of(app) or size == (80, 24) and screen.monitor.view != "chart"
        assert "no validation images for class e" in text_of(app)
        assert status_text(app).startswith("running: ui-test on cpu")
        await assert_footer_fits(pilot)
        assert "x Stop" in screen_lines(app)[-1] and "? Help" in screen_lines(app)[-1]

        scripted[0].end(EpochEnded(epoch=4, epochs=5, train_loss=0.3, val_loss=0.35, val_accuracy=0.9, lr=0.01,
                                   seconds=5.0, samples_per_second=80.0), finished(4, 4, 0.9))
        await wait_until(pilot, lambda: status_text(app).startswith("finished"), deadline=10)
        assert "best val acc 90.0% at epoch 4" in status_text(app)
        assert str(table.get_row("4")[0]).endswith(BEST) and not str(table.get_row("2")[0]).endswith(BEST)
        assert " left" not in progress_text(screen)
        await assert_footer_fits(pilot)


async def test_the_chart_switches_metric_and_the_views_cycle_at_80x24(small_shapes_config, make_app, scripted):
    ScriptedRun.script = run_events()
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start_scripted(app, pilot)
        await wait_until(pilot, lambda: screen.query_one("#epochs-table", DataTable).row_count == 3, deadline=10)
        await pilot.pause()
        text = text_of(app)
        assert "loss  ─ train  • val  ★ best 80.0% at epoch 2" in text and "epoch  0" in text
        await pilot.press("c")
        await pilot.pause()
        assert "accuracy  • val accuracy  ★ best 80.0% at epoch 2" in text_of(app) and "82% ┤" in text_of(app)
        shown = []
        for _ in range(3):
            await pilot.press("v")
            await pilot.pause()
            shown.append([w.id for w in screen.query("#panes > *") if w.display])
        assert shown == [["epochs-table"], ["run-log"], ["chart"]]


async def test_all_panes_at_200x50(small_shapes_config, make_app, scripted):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_train(app, pilot)
        assert [w.id for w in screen.query("#panes > *") if w.display] == ["chart", "epochs-table", "run-log"]
        chart, table = screen.query_one("#chart").region, screen.query_one("#epochs-table").region
        assert chart.y == table.y and chart.right < table.x and chart.height >= 20


async def test_data_preparation_shows_counts(small_shapes_config, make_app, scripted):
    ScriptedRun.script = [DataProgress(stage="decoding images", done=0, total=60000, time=time.time() - 10),
                          DataProgress(stage="decoding images", done=12000, total=60000, time=time.time())]
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start_scripted(app, pilot)
        await wait_until(pilot, lambda: "12,000/60,000" in progress_text(screen), deadline=10)
        assert "decoding images 12,000/60,000" in progress_text(screen) and " left" in progress_text(screen)
        assert "preparing the data" in status_text(app)
        scripted[0].end()


async def test_stop_asks_first(small_shapes_config, make_app, scripted):
    ScriptedRun.script = run_events()
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start_scripted(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and not scripted[0].stopped
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not scripted[0].stopped
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert scripted[0].stopped and status_text(app).startswith("stopping")
        scripted[0].end(finished(3, 2, 0.8, status="stopped"))
        await wait_until(pilot, lambda: status_text(app).startswith("stopped"), deadline=10)


async def test_the_form_shows_the_running_runs_settings_and_locks(small_shapes_config, make_app, scripted):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start_scripted(app, pilot)
        run = scripted[0]
        run.config = small_shapes_config.model_copy(deep=True)
        run.config.train.epochs = 9
        screen.show_run(run.config)  # as a run another config started
        await pilot.pause()
        epochs, settings = screen.query_one("#epochs", Input), screen.query_one("#settings")
        assert epochs.value == "9" and settings.disabled and not epochs.focusable
        await pilot.press("p")
        assert app.screen is screen  # its settings cannot change now
        run.end(finished(1))
        await wait_until(pilot, lambda: not settings.disabled, deadline=10)
        assert epochs.value == "1"  # the workspace's again, for the next run
        assert app.workspace.config.train.epochs == 1


async def test_an_attached_run_shows_its_own_config(small_shapes_config, make_app, scripted, tmp_path):
    from core.config import save_config

    run_dir = tmp_path / "runs" / "attached"
    run_dir.mkdir(parents=True)
    config = small_shapes_config.model_copy(deep=True)
    config.train.epochs, config.data.batch_size = 6, 3
    save_config(config, run_dir / "config.yaml")
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        app.followed.run = ScriptedRun(run_dir=run_dir)
        screen = await open_train(app, pilot)
        await wait_until(pilot, lambda: screen.query_one("#batch-size", Input).value == "3", deadline=10)
        assert screen.query_one("#epochs", Input).value == "6"
        app.followed.run.end()


@pytest.mark.parametrize("key, extension", [("enter", "final-lr"), ("r", "reschedule")])
async def test_extending_past_the_schedule_asks_how_the_lr_goes_on(small_shapes_config, make_app, scripted, tmp_path,
                                                                   key, extension):
    from core.config import save_config

    config = small_shapes_config.model_copy(deep=True)
    config.train.epochs = 5
    config.train.schedule = TABLES["schedule"].model("cosine").model_validate({"name": "cosine"})
    run_dir = tmp_path / "runs" / "cosine"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"")
    save_config(config, run_dir / "config.yaml")
    ScriptedRun.script = run_events(run_dir=str(run_dir))
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_scripted(app, pilot)
        scripted[0].run_dir = run_dir
        scripted[0].end(EpochEnded(epoch=4, epochs=5, train_loss=0.3, val_loss=0.35, val_accuracy=0.9, lr=0.00285,
                                   seconds=5.0, samples_per_second=80.0), EpochEnded(
            epoch=5, epochs=5, train_loss=0.3, val_loss=0.35, val_accuracy=0.9, lr=0.00285, seconds=5.0,
            samples_per_second=80.0), finished(5, 4, 0.9))
        await wait_until(pilot, lambda: status_text(app).startswith("finished"), deadline=10)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, AskText), deadline=10)
        await field_focused(pilot)
        await pilot.press("ctrl+a", "ctrl+k", "8", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, Choose), deadline=10)
        said = " ".join(str(widget.render()) for widget in app.screen.query(Static))
        assert "epochs 6-8 train at the lr the cosine schedule ended with (0.00285)" in said
        await pilot.press(key)
        await wait_until(pilot, lambda: len(scripted) == 2, deadline=10)
        assert (scripted[1].resume, scripted[1].extension, scripted[1].config.train.epochs) == (run_dir, extension, 8)
        scripted[1].end()


async def test_a_crash_shows_its_error_and_log_and_the_app_goes_on(small_shapes_config, make_app, scripted, tmp_path):
    run_dir = tmp_path / "runs" / "crashed"
    run_dir.mkdir(parents=True)
    (run_dir / "train.log").write_text("2026-12-01T03:21:18+00:00 run started on cpu\nTraceback (most recent call "
                                       "last):\n  File x\nRuntimeError: boom\n")
    ScriptedRun.script = run_events(run_dir=str(run_dir))
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await start_scripted(app, pilot)
        run = scripted[0]
        run.run_dir = run_dir
        run.error_text = "RuntimeError: boom"
        run.end(RunFailed(error="RuntimeError: boom", kind="crash", run_dir=str(run_dir)))
        await wait_until(pilot, lambda: status_text(app).startswith("failed"), deadline=10)
        assert "RuntimeError: boom" in status_text(app)
        log = screen.query_one("#run-log", Log)
        assert log.display and "03:21:18 run started on cpu" in log.lines and "RuntimeError: boom" in log.lines
        await pilot.press("2")  # the app keeps working
        await pilot.pause()
        assert app.screen.MODE == "model"


async def test_settings_dialog_has_the_rest_of_the_schema(small_shapes_config, make_app):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_params(app, pilot)
        for widget_id in ("train-accumulate", "train-grad_clip", "train-early_stopping", "train-on_nan",
                          "train-compile", "train-deterministic", "data-augment-horizontal_flip",
                          "data-augment-color_jitter-hue", "seed"):
            assert dialog.query(f"#{widget_id}"), widget_id
        assert offered(dialog.query_one("#data-augment-horizontal_flip", Select)) == ["true", "false", "alternate"]
        assert offered(dialog.query_one("#train-tta", Select)) == ["none", "flip", "flip_shift"]
        dialog.query_one("#data-augment-horizontal_flip", Select).value = True
        dialog.query_one("#train-tta", Select).value = "flip_shift"
        dialog.query_one("#data-augment-color_jitter-hue", Input).value = "0.1"
        dialog.query_one("#train-grad_clip", Input).value = "{norm: 1.0}"
        dialog.query_one("#seed", Input).value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause()
        config = app.workspace.config
        assert config.seed == 7 and config.data.augment.horizontal_flip and config.data.augment.color_jitter.hue == 0.1
        assert config.train.grad_clip.norm == 1.0 and config.train.tta == "flip_shift"

        dialog = await open_params(app, pilot)
        dialog.query_one("#train-accumulate", Input).value = "0"
        await pilot.press("ctrl+s")
        assert app.screen is dialog and "accumulate" in str(dialog.query_one("#form-error", Static).render())


async def test_the_device_picker_lists_the_machine(small_shapes_config, make_app, monkeypatch):
    from core.prepare import devices

    monkeypatch.setattr(devices, "list_devices", lambda: [
        devices.DeviceChoice("cpu", "cpu, 16 threads"),
        devices.DeviceChoice("cuda:0", "cuda:0 NVIDIA H200, 139.1 of 139.8 GiB free")])
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        select = screen.query_one("#device", Select)
        await wait_until(pilot, lambda: len(offered(select)) == 3, deadline=10)
        assert offered(select) == ["auto", "cpu, 16 threads", "cuda:0 NVIDIA H200, 139.1 of 139.8 GiB free"]
        assert "auto is cuda:0 here" in str(select.tooltip)
        select.value = "cuda:0"
        await pilot.pause()
        assert app.workspace.config.train.device == "cuda:0"


async def test_footer_shows_the_main_keys_and_help_at_80_columns(small_shapes_config, make_app, scripted):
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_train(app, pilot)
        await assert_footer_fits(pilot)
        footer = screen_lines(app)[-1]
        assert footer.index("s Start") < footer.index("p Settings") < footer.index("? Help")
        await pilot.click("#lr")
        await assert_footer_fits(pilot)
