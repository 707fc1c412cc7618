"""One tiny convolutional model trained once per test session, and helpers for the screens that use it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from core.config import RunConfig, parse_config
from core.runs.recorder import create_run
from core.train.engine import fit
from core.prepare.workspace import Workspace
from screens.classify import ClassifyScreen
from screens.dialogs import AskText
from waiting import wait_until
from workbench.app import WorkbenchApp

CONFIG = """\
name: tiny-conv
seed: 0
data:
  source: shapes
  path: {path}
  image_size: [16, 16]
  shapes: {{train_per_class: 6, val_per_class: 2, size: 16}}
model:
  layers: [{{conv2d: {{out_channels: 4, kernel_size: 3, padding: same}}}}, relu, flatten, {{linear: {{out_features: auto}}}}]
train: {{epochs: 1, device: cpu}}
"""


@dataclass(frozen=True)
class Trained:
    config: RunConfig
    runs: Path  # one run in it, with checkpoints/best.pt and last.pt
    shapes: Path  # shapes/{train,val}/<class>/<n>.png, 2 val images per class

    @property
    def run(self) -> Path:
        return next(self.runs.iterdir())

    def app(self) -> WorkbenchApp:
        return WorkbenchApp(Workspace(self.config), runs_dir=self.runs)


@pytest.fixture(scope="session", name="tiny_model")
def tiny_model_fixture(tmp_path_factory) -> Trained:
    """conv2d(4) + linear on 16x16 shapes (conftest's tiny set), trained one epoch (about a second on the CPU)."""
    root = tmp_path_factory.mktemp("tiny-model")
    config = parse_config(CONFIG.format(path=root / "shapes"))
    fit(config, create_run(root / "runs", config.name, config), emit=lambda event: None, should_stop=lambda: False)
    return Trained(config, root / "runs", root / "shapes")


async def answer(pilot, text: str) -> None:
    """Type `text` into the AskText dialog (waiting for it to open) and accept it."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AskText))
    pilot.app.screen.query_one("#answer", Input).value = text
    await pilot.press("enter")


async def open_classify(app, pilot, images: Path | None = None) -> ClassifyScreen:
    """The Classify screen with the newest listed checkpoint loaded, and `images` opened if given."""
    await app.switch_mode("classify")
    screen = app.screen
    assert isinstance(screen, ClassifyScreen)
    options = screen.query_one("#checkpoints", OptionList)
    await wait_until(pilot, lambda: options.option_count == 2)  # best.pt and last.pt
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.classifier is not None)
    if images is not None:
        await pilot.press("o")
        await answer(pilot, str(images))
    return screen
