"""What each screen looks like at 80x24 and at 200x50, compared with the SVG snapshots in __snapshots__/.

After a deliberate change of the UI, look at the new pictures and update them with
`.venv/bin/python -m pytest tests/ui/test_snapshots.py --snapshot-update`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from waiting import settle

from core.config import parse_config, save_config
from core.prepare.workspace import Workspace
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(120)

CONFIG = """\
name: snap
data: {source: shapes, path: shapes, image_size: [16, 16], shapes: {train_per_class: 6, val_per_class: 2, size: 16}}
model:
  layers: [flatten, {linear: {out_features: 32}}, relu, {linear: {out_features: 100}}]
train: {epochs: 3}
"""


def write_finished_run(runs: Path, name: str = "20260101-120000-snap", lr: float = 0.01,
                       accuracies: tuple[float, ...] = (0.5, 0.7, 0.9)) -> None:
    """A run directory as the engine leaves it, with fixed times so the picture is stable."""
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    (run / "status.json").write_text(json.dumps({
        "state": "finished", "pid": 1, "started": f"2026-01-0{name[7]}T12:00:00+00:00",
        "ended": f"2026-01-0{name[7]}T12:00:09+00:00", "epochs": 3, "epochs_done": 3, "best_epoch": 3,
        "best_val_accuracy": max(accuracies), "error": None}))
    (run / "metrics.csv").write_text(
        "epoch,train_loss,val_loss,val_accuracy,lr,seconds,samples_per_second\n" + "".join(
            f"{epoch},{1.2 - 0.3 * epoch},{1.0 - 0.25 * epoch},{accuracy},{lr},3.0,900\n"
            for epoch, accuracy in enumerate(accuracies, start=1)))
    config = parse_config(CONFIG)
    config = config.model_copy(update={"train": config.train.model_copy(
        update={"optimizer": config.train.optimizer.model_copy(update={"lr": lr})})})
    save_config(config, run / "config.yaml")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkbenchApp:
    monkeypatch.chdir(tmp_path)  # relative paths keep tmp_path out of the pictures
    Path("snap.yaml").write_text(CONFIG)
    write_finished_run(Path("runs"))
    return WorkbenchApp(Workspace.open(Path("snap.yaml")), runs_dir=Path("runs"))


KEYS = pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"], ids=["data", "model", "train", "classify", "runs"])


async def open_screen(pilot, key: str) -> None:
    await pilot.press(key)
    await settle(pilot)


@KEYS
def test_screen(snap_compare, app: WorkbenchApp, key: str) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: open_screen(pilot, key))


@KEYS
def test_screen_wide(snap_compare, app: WorkbenchApp, key: str) -> None:
    assert snap_compare(app, terminal_size=(200, 50), run_before=lambda pilot: open_screen(pilot, key))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_runs_compared(snap_compare, app: WorkbenchApp, size: tuple[int, int]) -> None:
    """Two runs compared: the config keys that differ and the curves overlaid."""
    write_finished_run(Path("runs"), "20260102-120000-snap", lr=0.1, accuracies=(0.4, 0.6, 0.65))

    async def compare(pilot) -> None:
        await open_screen(pilot, "5")
        await pilot.press("m", "down", "m", "v")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=compare)
