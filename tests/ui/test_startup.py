"""The app draws before torch is loaded: reading the config and importing the app and its first screen never load it;
a first visit parses no CSS again."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from pathlib import Path
from workbench.app import make_app
import screens.data
app = make_app(Path(sys.argv[1]))
print(sorted(name for name in ("torch", "torchvision") if name in sys.modules))
"""


def test_the_first_screen_needs_no_torch(tmp_path: Path) -> None:
    config = tmp_path / "stack.yaml"
    config.write_text("name: probe\ndata: {source: shapes, path: shapes}\n"
                      "model: {layers: [{conv2d: {out_channels: 4, kernel_size: 3}}, flatten, "
                      "{linear: {out_features: auto}}]}\ntrain: {optimizer: {name: adamw}, loss: {name: mse}, "
                      "schedule: {name: one_cycle}}\n")
    result = subprocess.run([sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_a_first_visit_parses_no_css_again(make_app, small_shapes_config, monkeypatch) -> None:
    """Every stylesheet is read at start and a new screen counts as styled: otherwise Textual re-parses all the app's
    CSS three times at each mode's first visit, restyling every screen."""
    from textual.css.stylesheet import Stylesheet

    from workbench.app import SCREENS

    reparses: list[str] = []
    reparse = Stylesheet.reparse
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(Stylesheet, "reparse", lambda self: (reparses.append(app.screen.MODE), reparse(self)))
        for key, entry in enumerate(SCREENS[1:], start=2):
            await pilot.press(str(key))
            await pilot.pause()
            assert app.screen.MODE == entry.mode
    assert reparses == []
