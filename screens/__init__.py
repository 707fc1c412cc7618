"""Textual screens of the workbench app, one per file, each with its .tcss beside it.

Screens show what `core` computes and hold no training or data logic of their own. They reach
the shared state through `self.app.workspace` (a core.prepare.workspace.Workspace) and
`self.app.runs_dir`.
"""
from __future__ import annotations

from pathlib import Path

SCREEN_STYLESHEETS = sorted(Path(__file__).parent.glob("*.tcss"))  # the app reads them all at start
