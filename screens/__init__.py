"""Textual screens of the workbench app, one per file, each with its .tcss beside it.

Screens show what `core` computes and hold no training or data logic of their own. They reach
the shared state through `self.app.workspace` (a core.prepare.workspace.Workspace) and
`self.app.runs_dir`.
"""
