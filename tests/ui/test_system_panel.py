"""The Train screen's system panel at 80x24: live figures while a run goes, each epoch's figures, and advice when the
loader is the bottleneck."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.prepare.workspace import Workspace
from core.train.events import EpochEnded
from core.train.system import GpuSample, SystemSample
from screen_text import assert_footer_fits, screen_lines
from screens.train import TrainScreen
from screens.widgets.system_panel import SystemPanel
from waiting import wait_until
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
name: ui
data: {source: shapes, path: %s, image_size: [8, 8], cache: "off", loader: {num_workers: 2}}
model:
  layers: [flatten, {linear: {out_features: auto}}]
"""
SAMPLE = SystemSample(cpu_percent=85.0, process_memory=3 * 2**29, gpus=[
    GpuSample(0, "NVIDIA H100", 97.0, 10 * 2**30, 80 * 2**30, 61.0, 250.0)])


def epoch(number: int, data_wait: float, system: dict | None = None) -> EpochEnded:
    return EpochEnded(epoch=number, epochs=3, train_loss=1.0, val_loss=1.0, val_accuracy=0.5, lr=0.1, seconds=1.0,
                      samples_per_second=100.0, data_wait=data_wait,
                      system=SAMPLE.to_dict() if system is None else system)


async def test_the_panel_shows_each_epochs_figures_and_names_the_keys_when_input_bound(tmp_path: Path) -> None:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        panel = screen.query_one(SystemPanel)
        screen.monitor.apply_event(epoch(1, 0.0, system={}))  # an older run's event: nothing to show
        await pilot.pause()
        assert not panel.display
        screen.monitor.apply_event(epoch(2, 0.8))
        await pilot.pause()
        text = str(panel.render())
        assert panel.display and text.startswith("cpu 85%  mem 1.5 GB  gpu0 97% 10.0/80.0 GiB 61°C 250 W  data wait 80%")
        assert "input-bound: 80% of training time waits for data; set data.cache: auto" in text
        assert "data.loader.num_workers (now 2)" in text
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert any("cpu 85%" in line for line in lines)
        await assert_footer_fits(pilot)
        screen.monitor.apply_event(epoch(3, 0.1))
        await pilot.pause()
        assert "input-bound" not in str(panel.render()) and "data wait 10%" in str(panel.render())


class FakeProcess:
    """A run's process as the test sets it: its CPU figure, until it ends."""

    def __init__(self) -> None:
        self.cpu, self.ended, self.taken = 10.0, False, 0

    def sample(self) -> SystemSample:
        if self.ended:
            raise ProcessLookupError("the run has ended")
        self.taken += 1
        return SystemSample(cpu_percent=self.cpu, process_memory=2**30, gpus=SAMPLE.gpus)


async def test_the_figures_refresh_live_while_the_run_goes_and_stop_when_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        panel = screen.query_one(SystemPanel)
        process = FakeProcess()
        panel.start_live(process.sample, every=0.05)
        await wait_until(pilot, lambda: panel.display, deadline=10)  # before any epoch ends
        assert str(panel.render()) == "cpu 10%  mem 1 GB  gpu0 97% 10.0/80.0 GiB 61°C 250 W"
        screen.monitor.apply_event(epoch(1, 0.8))  # the epoch's own figures, its data wait and the advice
        process.cpu = 30.0
        await wait_until(pilot, lambda: str(panel.render()).startswith("cpu 30%"), deadline=10)
        text = str(panel.render())
        assert text.startswith("cpu 30%  mem 1 GB") and "data wait 80%" in text and "input-bound" in text
        lines = screen_lines(app)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines) and any("cpu 30%" in line for line in lines)
        process.ended = True
        await wait_until(pilot, lambda: not panel.is_live, deadline=10)  # no more samples
        assert str(panel.render()).startswith("cpu 30%")  # the last figures stay


async def test_a_refresh_never_outlives_its_run(tmp_path: Path) -> None:
    path = tmp_path / "ui.yaml"
    path.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(path), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("train")
        panel = app.screen.query_one(SystemPanel)
        first, second = FakeProcess(), FakeProcess()
        panel.start_live(first.sample, every=0.05)
        await wait_until(pilot, lambda: first.taken >= 2, deadline=10)
        panel.start_live(second.sample, every=0.05)  # the next run
        taken = first.taken
        await wait_until(pilot, lambda: second.taken >= 3, deadline=10)
        assert first.taken <= taken + 1  # at most the sample in flight when the run changed
        panel.stop_live()
        assert not panel.is_live
