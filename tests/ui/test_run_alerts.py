"""The followed run's end in the app at 80x24: a toast and the bell, also while another screen is open."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.prepare.workspace import Workspace
from workbench.app import WorkbenchApp
from waiting import wait_until

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
name: ui
data: {source: shapes, path: %s, image_size: [8, 8]}
model:
  layers: [flatten, {linear: {out_features: auto}}]
"""


@dataclass
class EndingRun:
    """A followed run whose process can be ended by the test; its directory's status.json says how it ended."""

    run_dir: Path
    is_running: bool = True
    state: str = "running"
    error_text: str | None = None


@pytest.mark.parametrize(("status", "title", "severity"), [
    ({"state": "finished", "best_val_accuracy": 0.9, "epochs_done": 3}, "run finished", "information"),
    ({"state": "failed", "error": "the loss became NaN or infinite at epoch 1, batch 2"}, "run diverged", "error"),
])
async def test_a_toast_and_the_bell_when_the_followed_run_ends(tmp_path: Path, monkeypatch, status, title, severity):
    config = tmp_path / "ui.yaml"
    config.write_text(CONFIG % (tmp_path / "shapes"))
    app = WorkbenchApp(Workspace.open(config), runs_dir=tmp_path / "runs")
    bells: list[bool] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(True))
    run_dir = tmp_path / "runs" / "20260101-000000-ui"
    run_dir.mkdir(parents=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("classify")  # not the Train screen: the app itself watches
        run = EndingRun(run_dir)
        app.followed.run = run
        app.run_alerts.check()
        assert not app._notifications and not bells  # still running: nothing to say
        (run_dir / "status.json").write_text(json.dumps(status))
        run.is_running = False

        def toasts() -> list:  # the run's, not the screens' own
            return [toast for toast in app._notifications if toast.title.startswith("run ")]

        await wait_until(pilot, lambda: bool(bells and toasts()))  # the bell rings at once; a toast is a message, later
        [toast] = toasts()
        assert toast.title == title and toast.severity == severity and toast.message.startswith(f"{run_dir.name} ")
        app.run_alerts.check()
        await pilot.pause()
        assert len(bells) == 1 and len(toasts()) == 1  # once
