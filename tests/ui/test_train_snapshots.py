"""The Train screen in the middle of a run at 80x24 and 200x50 (SVG snapshots; idle, it is in test_snapshots.py).

The run is a fixed script of events drawn at a fixed time, so the pictures are stable. After a
deliberate change, look at the new pictures and update them with
`.venv/bin/python -m pytest tests/ui/test_train_snapshots.py --snapshot-update`.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.prepare import devices
from core.train.events import BatchEnded, EpochEnded, RunStarted
from core.prepare.workspace import Workspace
from test_snapshots import CONFIG, open_screen
from waiting import settle
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(120)

START = 1_800_000_000.0  # the script's clock: fixed, so the time left is too


def script() -> list:
    """Three epochs and a half of an eight-epoch run, a batch reported every 0.25 s."""
    events, moment = [RunStarted(run_dir="runs/20260101-120000-snap", name="snap", device="cpu (2 threads)", epochs=8,
                                 classes=[f"class{i}" for i in range(5)], train_samples=1500, val_samples=300,
                                 batches_per_epoch=24, parameters=89_605, skipped_files=0, time=START)], START
    for epoch in range(1, 5):
        for batch in range(1, 25 if epoch < 4 else 13):
            moment += 0.25
            position = epoch - 1 + batch / 24
            events.append(BatchEnded(epoch=epoch, batch=batch, batches=24, step=(epoch - 1) * 24 + batch,
                                     loss=1.6 * math.exp(-position) + 0.08 * math.sin(batch * 1.7),
                                     samples_per_second=3_000.0, lr=0.01, time=moment))
        if epoch < 4:
            moment += 0.5
            events.append(EpochEnded(epoch=epoch, epochs=8, train_loss=1.4 * math.exp(-epoch + 0.5),
                                     val_loss=1.5 * math.exp(-epoch + 0.6), val_accuracy=(0.61, 0.83, 0.79)[epoch - 1],
                                     lr=0.01, seconds=6.5, samples_per_second=3_000.0, time=moment))
    return events


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkbenchApp:
    monkeypatch.chdir(tmp_path)  # relative paths keep tmp_path out of the pictures
    monkeypatch.setattr(devices, "list_devices", lambda: [devices.DeviceChoice("cpu", "cpu, 2 threads")])
    Path("snap.yaml").write_text(CONFIG.replace("epochs: 3", "epochs: 8"))
    return WorkbenchApp(Workspace.open(Path("snap.yaml")), runs_dir=Path("runs"))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_running(snap_compare, app: WorkbenchApp, size) -> None:
    async def run_half(pilot) -> None:
        await open_screen(pilot, "3")
        monitor = pilot.app.screen.monitor
        events = script()
        for event in events:
            monitor.apply_event(event)
        monitor.redraw()  # what the monitor's clock does every second
        monitor.query_one("#run-progress").show(now=events[-1].time + 0.1)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_half)
