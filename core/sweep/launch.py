"""A sweep as a detached process, for the app: started like a training run, so it survives the app and SSH.

The config being edited (its sweep: block included) is saved into the study folder as config.yaml
and `python -m workbench sweep` runs on it in a session of its own, its output in sweep.log. The
command writes sweeping.json (its pid, start time and boot) while it sweeps: that is how the app,
this one or a later one, tells whether the study is sweeping and stops it (SIGINT: the trial in
progress stops like a run, and the same command continues the study later).
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from core.config import RunConfig, save_config
from core.files import write_error
from core.runs.launch import StartError, signal_run
from core.runs.liveness import same_process
from core.sweep.study import StudyFolder


def start_sweep(config: RunConfig, runs_dir: Path, trials: int | None = None) -> StudyFolder:
    """Start `workbench sweep` on the config, detached; the study is named after the config (StartError)."""
    runs_dir = Path(runs_dir).resolve()
    folder = StudyFolder.under(runs_dir, config.name)
    if is_sweeping(folder):
        raise StartError(f"study {folder.name} is already sweeping (x stops it)")
    config_path = folder.config_path
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        save_config(config, config_path)
        command = [sys.executable, "-m", "workbench", "sweep", str(config_path), "--runs-dir", str(runs_dir),
                   "--study", folder.name, *(["--trials", str(trials)] if trials else [])]
        with folder.log_path.open("wb") as log:
            subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    except OSError as exc:
        raise StartError(str(write_error(exc, runs_dir, "the runs folder"))) from exc
    return folder


def is_sweeping(folder: StudyFolder) -> bool:
    """Whether the command that wrote the study's sweeping.json is still that process."""
    process = folder.read_process()
    return bool(process) and same_process(process)


def stop_sweep(folder: StudyFolder) -> bool:
    """Ask the study's sweeping command to stop (SIGINT), never a later process given its pid; True if asked."""
    process = folder.read_process()
    return bool(process) and signal_run(process, signal.SIGINT)


def log_tail(folder: StudyFolder, lines: int = 3) -> str:
    """The last lines of the sweep command's output (why a sweep the app started ended)."""
    try:
        return "\n".join(folder.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
