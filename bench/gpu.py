"""One GPU check: what workbench's CUDA paths do on this machine, as one table (bench/gpu.sh runs it).

  python bench/gpu.py                          every check, about 6 minutes on one recent GPU
  python bench/gpu.py --cifar FOLDER           also cifar10_speed.yaml's time to 94% on a CIFAR-10 folder
  python bench/gpu.py --smoke --device cpu     the paths on tiny data, no figures (what the test runs)

Checks, each a row (a failing check says why and the next one runs):
  precision   the engine's training samples/s in fp32, bf16 and fp16 (fp16 with its GradScaler)
  compile     bf16 with torch.compile, against bf16 without (the first epoch, compiling, left out)
  auto        data.batch_size: auto: the batch size it chose and the samples/s with it
  ddp         torchrun with one process: the backend status.json records (nccl on CUDA) and the time
  speed       configs/cifar10_speed.yaml on --cifar FOLDER: minutes to 94% validation accuracy
  tutorial    the tutorial's loop (seed_loop.py) against the engine, same model, same data
  devices     the device list the app's Train screen offers
The data is 50,000 random CIFAR-shaped images in memory (what seed_loop's `fake` uses); the speed
check needs real images, so it runs only with --cifar.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.throughput import DEFAULT_SEED_LOOP, make_cifar_layout, seed_loop  # noqa: E402
from bench.throughput import workbench as tutorial_model_speed  # noqa: E402
from bench.time_to_accuracy import curve  # noqa: E402
from core.config import load_config  # noqa: E402
from core.model.checkpoints import first_line  # noqa: E402
from core.prepare.devices import list_devices  # noqa: E402
from core.runs.recorder import create_run  # noqa: E402
from core.runs.rundir import RunDir  # noqa: E402
from core.train.engine import fit  # noqa: E402
from core.train.events import EpochEnded, Event, RunStarted  # noqa: E402

SPEED_CONFIG = "configs/cifar10_speed.yaml"
TARGET = 0.94
SPEED_SECONDS = 180  # the speed recipe is stopped after this, cold start included


@dataclass
class Setup:
    device: str
    data: Path  # a cifar-10-batches-py layout of random images
    runs: Path
    epochs: int  # per timed engine run: the first is warm-up, the median of the rest is reported
    smoke: bool
    cifar: Path | None
    seed_loop: Path


@dataclass
class Trained:
    samples_per_second: float
    started: RunStarted


def train_speed(setup: Setup, *overrides: str) -> Trained:
    """cifar10_speed.yaml's net and recipe on the random images: samples/s after the first epoch."""
    config = load_config(REPO / SPEED_CONFIG, [
        "data.source=cifar10", f"data.path={setup.data}", "data.download=false", "data.val_split=0.02",
        "data.cache_dir=null", f"train.device={setup.device}", f"train.epochs={setup.epochs}", "train.compile=false",
        *(["data.batch_size=64"] if setup.smoke else []), *overrides])
    speeds: list[float] = []
    started: list[RunStarted] = []

    def record(event: Event) -> None:
        if isinstance(event, RunStarted):
            started.append(event)
        if isinstance(event, EpochEnded):
            speeds.append(event.samples_per_second)

    run = create_run(setup.runs, config.name, config)
    fit(config, run, emit=record, should_stop=lambda: False)
    return Trained(float(np.median(speeds[1:] or speeds)), started[0])


def check_precision(setup: Setup) -> list[list[str]]:
    rows, fp32 = [], 0.0
    for precision in ("fp32", "bf16", "fp16"):
        trained = train_speed(setup, f"train.precision={precision}")
        fp32 = fp32 or trained.samples_per_second
        used = trained.started.precision
        note = "GradScaler on" if used == "fp16" and setup.device.startswith("cuda") else ""
        if used != precision:
            note = f"fell back to {used}"
        rows.append([f"precision {precision}", f"{trained.samples_per_second:,.0f} samples/s",
                     f"x{trained.samples_per_second / fp32:.2f} of fp32", note])
    return rows


def check_compile(setup: Setup) -> list[list[str]]:
    if not setup.device.startswith("cuda"):
        return [["compile", "skipped", "", "train.compile acts on CUDA only"]]
    plain = train_speed(setup, "train.precision=bf16")
    compiled = train_speed(setup, "train.precision=bf16", "train.compile=true")
    note = "compiled" if compiled.started.compiled else "compile fell back (see the run's train.log)"
    return [["compile bf16", f"{compiled.samples_per_second:,.0f} samples/s",
             f"x{compiled.samples_per_second / plain.samples_per_second:.2f} of eager bf16", note]]


def check_auto(setup: Setup) -> list[list[str]]:
    trained = train_speed(setup, "data.batch_size=auto", "train.precision=bf16")
    return [["batch_size auto", f"chose {trained.started.batch_size}", f"{trained.samples_per_second:,.0f} samples/s",
             "probed GPU memory" if setup.device.startswith("cuda") else "no probe off the GPU"]]


def check_ddp(setup: Setup) -> list[list[str]]:
    config = setup.runs.parent / "ddp.yaml"
    config.write_text(
        f"name: ddp\nseed: 0\ndata: {{source: cifar10, path: {setup.data}, download: false, val_split: 0.02, "
        f"batch_size: 256}}\nmodel:\n  layers:\n    - conv2d: {{out_channels: 32, kernel_size: 3, padding: 1}}\n"
        "    - relu\n    - adaptiveavgpool2d: {output_size: 1}\n    - flatten\n    - linear: {out_features: auto}\n"
        f"train: {{epochs: 1, device: {setup.device}}}\n")
    runs = setup.runs / "ddp"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                           "-m", "workbench", "train", str(config), "--runs-dir", str(runs)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exit {done.returncode}: {workbench_error(done.stderr + done.stdout)}")
    status = RunDir(next(runs.iterdir())).read_status()
    return [["ddp 1 process", f"{status.get('state')}", f"{seconds:.1f} s with start-up",
             f"backend {status.get('backend')}, world size {status.get('world_size')}"]]


def workbench_error(output: str) -> str:
    """workbench's own error line from a child's output (torchrun's report of a failed rank ends with its
    own boilerplate, which names no cause), else the output's last 200 characters."""
    ours = [line for line in output.splitlines() if line.startswith("workbench: ")]
    return ours[-1] if ours else output.strip()[-200:]


def check_speed(setup: Setup) -> list[list[str]]:
    if setup.cifar is None:
        return [["speed recipe", "skipped", "", "needs real images: --cifar FOLDER"]]
    overrides = [f"train.device={setup.device}"]
    points = curve(SPEED_CONFIG, setup.cifar, 0.1, overrides, SPEED_SECONDS, setup.runs / "speed")
    reached = [seconds for seconds, _, accuracy in points if accuracy >= TARGET]
    best = max((accuracy for _, _, accuracy in points), default=0.0)
    figure = f"{reached[0] / 60:.2f} min to {TARGET:.0%}" if reached else f"{TARGET:.0%} not reached"
    return [["speed recipe", figure, f"best {best:.2%} in {len(points)} epochs", "cold start, 10% val split"]]


def check_tutorial(setup: Setup) -> list[list[str]]:
    if not setup.seed_loop.is_file():
        return [["tutorial loop", "skipped", "", f"no seed_loop.py at {setup.seed_loop}: --seed-loop PATH"]]
    steps = 20 if setup.smoke else 300
    theirs = seed_loop(setup.seed_loop, "fake", steps, setup.device)
    ours = tutorial_model_speed(f"{{source: cifar10, path: {setup.data}, val_split: 0.02}}", setup.epochs,
                                setup.device, setup.runs / "tutorial")
    return [["tutorial model", f"{ours:,.0f} samples/s", f"x{ours / theirs:.2f} of the tutorial loop",
             f"its loop: {theirs:,.0f} samples/s"]]


def check_devices(setup: Setup) -> list[list[str]]:
    return [["device list", choice.value, "", choice.description] for choice in list_devices()]


CHECKS: dict[str, Callable[[Setup], list[list[str]]]] = {
    "precision": check_precision, "compile": check_compile, "auto": check_auto, "ddp": check_ddp,
    "speed": check_speed, "tutorial": check_tutorial, "devices": check_devices}


def machine_line(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(torch.device(device))
        return f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"{device}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cifar", type=Path, help="a CIFAR-10-style folder (<class>/*.jpg) for the speed check")
    parser.add_argument("--seed-loop", type=Path, default=DEFAULT_SEED_LOOP)
    parser.add_argument("--checks", default=",".join(CHECKS), help=f"a comma list of: {', '.join(CHECKS)}")
    parser.add_argument("--smoke", action="store_true", help="200 images and 2 epochs: every path, no figures")
    args = parser.parse_args()
    names = [name.strip() for name in args.checks.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        parser.error(f"unknown check {unknown[0]!r}: choose from {', '.join(CHECKS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu.py: no CUDA device here (torch.cuda.is_available() is False); --device cpu runs the CPU paths",
              file=sys.stderr)
        return 2
    failed = False
    with tempfile.TemporaryDirectory(prefix="workbench-gpu-") as scratch:
        setup = Setup(args.device, make_cifar_layout(Path(scratch) / "cifar10", 200 if args.smoke else 50_000),
                      Path(scratch) / "runs", 2 if args.smoke else 4, args.smoke, args.cifar, args.seed_loop)
        print(f"# workbench GPU check: {machine_line(args.device)}\n", flush=True)
        print_row(["check", "result", "against", "note"])
        print("|---|---|---|---|", flush=True)
        for name in names:  # each row as it comes: a run cut short by gpu.sh's time limit keeps its figures
            started = time.perf_counter()
            try:
                rows = CHECKS[name](setup)
            except Exception as exc:  # one broken path must not hide the others' figures
                traceback.print_exc()
                rows, failed = [[name, "failed", "", f"{type(exc).__name__}: {first_line(exc)}"]], True
            for row in rows:
                print_row(row)
            print(f"  ({name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return 1 if failed else 0


def print_row(cells: list[str]) -> None:
    """A row of a Markdown table, so the figures paste into bench/README.md as they are."""
    print("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
