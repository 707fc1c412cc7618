"""A run's end told: its outcome from events and status.json, OSC notifications, and notify.command."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, parse_config
from core.runs.notify import RunOutcome, run_notify_command, terminal_notification
from core.train.events import Event, RunFailed, RunFinished

FINISHED = RunFinished(time=0.0, status="finished", epochs_done=3, best_epoch=2, best_val_accuracy=0.91, seconds=12.34,
                       run_dir="/runs/a")


def test_outcomes_from_the_last_event() -> None:
    finished = RunOutcome.from_event(FINISHED, "demo")
    assert finished.state == "finished" and finished.summary == "demo finished after 3 epochs, best val accuracy 91.0%"
    stopped = RunOutcome.from_event(RunFinished(time=0.0, status="stopped", epochs_done=1, best_epoch=None,
                                                best_val_accuracy=None, seconds=1.0, run_dir="/r", reason="early stop"), "d")
    assert stopped.summary == "d stopped after 1 epochs (early stop)"
    failed = RunOutcome.from_event(RunFailed(time=0.0, error="bad image\n  hint", kind="input", run_dir="/r"), "d")
    assert (failed.state, failed.summary) == ("failed", "d failed: bad image")
    diverged = RunOutcome.from_event(RunFailed(time=0.0, error="the loss became NaN or infinite at epoch 2, batch 3",
                                               kind="input", run_dir="/r"), "d")
    assert diverged.state == "diverged"
    assert RunOutcome.from_event(Event(), "d") is None


def test_outcome_from_a_run_directory_status(tmp_path: Path) -> None:
    status = {"state": "failed", "error": "the weights became NaN or infinite in epoch 2", "best_val_accuracy": 0.5,
              "epochs_done": 2}
    outcome = RunOutcome.from_status(status, tmp_path)
    assert outcome.state == "diverged" and outcome.summary == f"{tmp_path.name} diverged: the weights became NaN or infinite in epoch 2"
    done = RunOutcome.from_status({"state": "finished", "best_val_accuracy": 0.875, "epochs_done": 4}, tmp_path)
    assert done.summary == f"{tmp_path.name} finished, best val accuracy 87.5%" and done.environment()["WORKBENCH_EPOCHS"] == "4"


def test_terminal_notification_is_osc_9_and_777_without_control_characters() -> None:
    text = terminal_notification("workbench: finished", "a\x1b]0;evil\x07 b; c")
    assert text == ("\x1b]9;workbench: finished: a ]0;evil  b; c\x07"  # the body's ESC and BEL are spaces now
                    "\x1b]777;notify;workbench: finished;a ]0,evil  b, c\x07")  # ';' separates OSC 777's fields


def test_the_command_runs_without_a_shell_with_the_outcome_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    script = ("import json, os, sys; json.dump({k: v for k, v in os.environ.items() if k.startswith('WORKBENCH_')} "
              "| {'argv': sys.argv[1:]}, open(sys.argv[1], 'w'))")
    outcome = RunOutcome.from_event(FINISHED, "demo")
    assert run_notify_command([sys.executable, "-c", script, str(out), "$HOME; touch pwned"], outcome, 30) is None
    seen = json.loads(out.read_text())
    assert seen["argv"] == [str(out), "$HOME; touch pwned"] and not (tmp_path / "pwned").exists()
    assert seen | {"argv": None} == {
        "WORKBENCH_RUN_STATE": "finished", "WORKBENCH_RUN_NAME": "demo", "WORKBENCH_RUN_DIR": "/runs/a",
        "WORKBENCH_RUN_SUMMARY": "demo finished after 3 epochs, best val accuracy 91.0%",
        "WORKBENCH_BEST_ACCURACY": "0.91", "WORKBENCH_EPOCHS": "3", "WORKBENCH_SECONDS": "12.3", "argv": None}


def test_a_failing_command_is_described_not_raised(tmp_path: Path) -> None:
    outcome = RunOutcome.from_event(FINISHED, "demo")
    assert run_notify_command([str(tmp_path / "missing")], outcome, 30) == f"notify.command: {tmp_path / 'missing'} not found"
    failing = run_notify_command([sys.executable, "-c", "import sys; sys.exit('webhook down')"], outcome, 30)
    assert failing == f"notify.command: {sys.executable} exited 1: webhook down"
    slow = run_notify_command([sys.executable, "-c", "import time; time.sleep(30)"], outcome, 0.5)
    assert slow == f"notify.command: {sys.executable} took longer than 0.5 s and was stopped"


def test_the_notify_section_takes_an_argv_list() -> None:
    base = "model: {layers: [flatten, {linear: {out_features: auto}}]}\n"
    assert parse_config(base + "notify: {command: [mail.sh, -s, done]}", []).notify.command == ["mail.sh", "-s", "done"]
    assert parse_config(base, []).notify.command is None
    with pytest.raises(ConfigError):
        parse_config(base + "notify: {command: []}", [])
