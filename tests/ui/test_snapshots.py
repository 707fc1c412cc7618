"""What each screen looks like at 80x24, compared with the SVG snapshots in __snapshots__/.

After a deliberate change of the UI, look at the new pictures and update them with
`.venv/bin/python -m pytest tests/ui/test_snapshots.py --snapshot-update`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.workspace import Workspace
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(120)

CONFIG = """\
name: snap
data: {source: shapes, path: shapes, image_size: [16, 16], shapes: {train_per_class: 6, val_per_class: 2, size: 16}}
model:
  layers: [flatten, {linear: {out_features: 32}}, relu, {linear: {out_features: 100}}]
train: {epochs: 3}
"""


def write_finished_run(runs: Path) -> None:
    """A run directory as the engine leaves it, with fixed times so the picture is stable."""
    run = runs / "20260101-120000-snap"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    (run / "status.json").write_text(json.dumps({
        "state": "finished", "pid": 1, "started": "2026-01-01T12:00:00+00:00", "ended": "2026-01-01T12:00:09+00:00",
        "epochs": 3, "epochs_done": 3, "best_epoch": 3, "best_val_accuracy": 0.9, "error": None}))
    (run / "metrics.csv").write_text(
        "epoch,train_loss,val_loss,val_accuracy,lr,seconds,samples_per_second\n"
        "1,1.2,1.0,0.5,0.01,3.0,900\n2,0.8,0.7,0.7,0.01,3.0,910\n3,0.5,0.4,0.9,0.01,3.0,905\n")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkbenchApp:
    monkeypatch.chdir(tmp_path)  # relative paths keep tmp_path out of the pictures
    Path("snap.yaml").write_text(CONFIG)
    write_finished_run(Path("runs"))
    return WorkbenchApp(Workspace.open(Path("snap.yaml")), runs_dir=Path("runs"))


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"], ids=["data", "model", "train", "classify", "runs"])
def test_screen(snap_compare, app: WorkbenchApp, key: str) -> None:
    async def open_screen(pilot) -> None:
        await pilot.press(key)
        for _ in range(3):  # screens start workers that start more work
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_screen)
