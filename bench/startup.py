"""The app's first frame and the first visit to each screen, in a real terminal (tmux at 80x24).

  python bench/startup.py                 5 starts, medians
  python bench/startup.py --repeats 9     more starts
  python bench/startup.py --python .venv/bin/python --source DIR   another interpreter or checkout

Each start runs `python -m workbench CONFIG` (a small shapes config, its images generated before
the first start) in a fresh tmux session at 80x24 and polls the pane: `first frame` is the time
from starting the session until the footer is drawn, `data listed` until the Data screen shows its
counts (the app is in use), and each `first visit`, pressed --think seconds after that (a person
reading the first screen), the time from pressing the screen's number until its own footer keys are
drawn (`model checked`: until the Model screen's stack is checked and its layer keys are on). A
last start types `5` at once and checks that the Runs screen opens (keys typed during start-up are
not lost). Prints one line per figure with its median, slowest and target. The figures include
tmux and the polling; on a shared machine they are only comparable within one sitting.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"first frame": 1.5, "first visit": 0.5}  # seconds, on the project's 2-core machine
POLL_S = 0.03
FIRST_FRAME = "^p palette"  # the footer, last of the frame to be drawn
DATA_OPEN = " val, "  # the Data screen's header once the data is listed ("80 train, 20 val, 5 classes")
VISITS = (("2", "model", "t Template"), ("3", "train", "s Start"), ("4", "classify", "o Open"), ("5", "runs", "m Mark"),
          ("6", "sweeps", "n Sweep"))  # key, screen, what its footer shows once it is drawn
MODEL_READY = "a Add"  # the Model screen's layer keys, shown once its stack is checked
CONFIG = """\
name: startup
data: {{source: shapes, path: {path}, image_size: [16, 16], shapes: {{train_per_class: 8, val_per_class: 2, size: 16}}}}
model:
  layers: [flatten, {{linear: {{out_features: 32}}}}, relu, {{linear: {{out_features: auto}}}}]
"""


class Pane:
    """One tmux session running the app at 80x24, on a tmux server (socket) of its own in `work`."""

    def __init__(self, work: Path, command: list[str], env: dict[str, str]) -> None:
        self.tmux = ["tmux", "-S", str(work / f"tmux-{time.monotonic_ns()}.sock")]  # never a server that is exiting
        self.started = time.monotonic()
        exports = " ".join(f"{key}={value}" for key, value in env.items())
        subprocess.run([*self.tmux, "new-session", "-d", "-s", "bench", "-x", "80", "-y", "24", "-c", str(work),
                        f"env {exports} {' '.join(command)}; sleep 60"], check=True)

    def text(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "bench"], capture_output=True, text=True
                              ).stdout

    def key(self, key: str) -> float:
        """Send `key`; the time it was sent."""
        subprocess.run([*self.tmux, "send-keys", "-t", "bench", key], check=True)
        return time.monotonic()

    def wait_for(self, needle: str, since: float, timeout: float = 60) -> float:
        """Seconds from `since` until `needle` is on screen."""
        while needle not in self.text():
            if time.monotonic() - since > timeout:
                raise TimeoutError(f"{needle!r} not on screen after {timeout} s:\n{self.text()}")
            time.sleep(POLL_S)
        return time.monotonic() - since

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def one_start(work: Path, command: list[str], env: dict[str, str], think: float) -> dict[str, float]:
    pane = Pane(work, command, env)
    try:
        figures = {"first frame": pane.wait_for(FIRST_FRAME, pane.started)}
        figures["data listed"] = pane.wait_for(DATA_OPEN, pane.started)
        time.sleep(think)  # a person reading the first screen before pressing a key
        for key, screen, footer in VISITS:
            pressed = pane.key(key)
            figures[f"first visit: {screen}"] = pane.wait_for(footer, pressed)
            if screen == "model":
                figures["model checked"] = pane.wait_for(MODEL_READY, pressed)
        return figures
    finally:
        pane.close()


def keys_during_startup(work: Path, command: list[str], env: dict[str, str]) -> bool:
    """Whether a `5` typed right after starting opens the Runs screen."""
    pane = Pane(work, command, env)
    try:
        pane.key("5")
        pane.wait_for(FIRST_FRAME, pane.started)
        try:
            pane.wait_for(VISITS[3][2], time.monotonic(), timeout=10)
        except TimeoutError:
            return False
        return True
    finally:
        pane.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="starts to take the medians of (default: 5)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="seconds between the data being listed and the first key (default: 2)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to run (default: this one)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("startup: tmux is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="workbench-startup-") as folder:
        work = Path(folder)
        config = work / "startup.yaml"
        config.write_text(CONFIG.format(path=work / "shapes"))
        env = {"PYTHONPATH": str(args.source.resolve()), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        subprocess.run([args.python, "-m", "workbench", "check", str(config)], env={**os.environ, **env},
                       capture_output=True, check=True)  # generates the images, warms the file cache
        command = [args.python, "-m", "workbench", str(config)]
        runs = [one_start(work, command, env, args.think) for _ in range(args.repeats)]
        kept = keys_during_startup(work, command, env)
    for name in runs[0]:
        values = [run[name] for run in runs]
        target = TARGETS.get(name.split(":")[0])
        verdict = "" if target is None else (
            f"  target <= {target} s ({'met' if statistics.median(values) <= target else 'not met'})")
        print(f"{name:<24} median {statistics.median(values):5.2f} s  slowest {max(values):5.2f} s{verdict}")
    print(f"{'keys during start-up':<24} {'kept' if kept else 'LOST'} (5 typed at once opens Runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
