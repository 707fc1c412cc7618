"""The app tells you when the run it follows ends: a toast and the terminal bell, whichever screen is open."""
from __future__ import annotations

from textual.app import App
from textual.notifications import SeverityLevel

from core.runs.launch import FollowedRun, LaunchedRun
from core.runs.notify import RunOutcome
from core.runs.rundir import RunDir, RunState

CHECK_SECONDS = 1.0
CALM_STATES = (RunState.FINISHED, RunState.STOPPED)  # the rest (failed, diverged, ended unexpectedly) are errors


class RunAlerts:
    """Watches the app's followed run and announces each run's end once."""

    def __init__(self, app: App, followed: FollowedRun) -> None:
        self.app = app
        self.followed = followed
        self._announced: LaunchedRun | None = None
        app.set_interval(CHECK_SECONDS, self.check)

    def check(self) -> None:
        run = self.followed.run
        if run is None or run is self._announced or run.is_running:
            return
        self._announced = run
        outcome = self._outcome(run)
        severity: SeverityLevel = "information" if outcome.state in CALM_STATES else "error"
        self.app.notify(outcome.summary, title=f"run {outcome.state}", severity=severity, timeout=30)
        self.app.bell()

    @staticmethod
    def _outcome(run: LaunchedRun) -> RunOutcome:
        """From status.json, which the run writes before it exits; the process's own view when there is none."""
        if run.run_dir is not None:
            try:
                return RunOutcome.from_status(RunDir(run.run_dir).read_status(), run.run_dir)
            except (OSError, ValueError):
                pass
        error = run.error_text
        return RunOutcome(run.state, "the training run", "",
                          f"the training run {run.state}" + (f": {error.splitlines()[0]}" if error else ""))
