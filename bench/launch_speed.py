"""Training launched from the app against the same config headless: samples/s of each, same invocation.

  python bench/launch_speed.py                 the demo's model on 10,000 generated shapes, 5 epochs each way
  python bench/launch_speed.py --repeats 3     alternate headless and launched three times (medians)

headless: `python -m workbench --run CONFIG` as a subprocess, its output in a pipe (plain lines).
launched: the real app (workbench.app.WorkbenchApp) in Textual's headless mode at 80x24, on the
Train screen, started with `s`: it launches the same command detached (core.runs.launch) and follows
its events, redrawing progress, sparklines, chart and table as it would in a terminal. Each
run's number is the median samples/s of its epochs after the first (from its events.jsonl).
Prints `headless=`, `launched=` and `ratio=` (launched / headless; target >= 0.97).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import ShapesOptions, load_config, save_config  # noqa: E402
from core.data.shapes import ensure_shapes  # noqa: E402
from core.runs.rundir import RunDir  # noqa: E402

TARGET = 0.97
ENDED = ("finished", "stopped", "failed", "aborted", "ended unexpectedly")  # what the Train screen's status says


def write_config(work: Path, per_class: int, epochs: int, device: str) -> Path:
    """The demo config (configs/shapes.yaml) on `per_class` x 5 generated training images, kept in `work`."""
    data = work / f"shapes-{per_class}"
    options = ShapesOptions(train_per_class=per_class, val_per_class=max(per_class // 5, 1))
    ensure_shapes(data, options)  # generated once, before either run is timed
    overrides = [f"data.path={data}", f"data.shapes.train_per_class={per_class}",
                 f"data.shapes.val_per_class={options.val_per_class}", f"train.epochs={epochs}",
                 f"train.device={device}", "name=launch-speed"]
    config = load_config(REPO / "configs" / "shapes.yaml", overrides)
    path = work / "launch-speed.yaml"
    save_config(config, path)
    return path


def speed(run_dir: Path) -> float:
    """Median samples/s of a run's epochs after the first."""
    speeds = [event["samples_per_second"] for event in RunDir(run_dir).read_events() if event["type"] == "epoch_ended"]
    return statistics.median(speeds[1:] if len(speeds) > 1 else speeds)


def newest_run(runs: Path) -> Path:
    return max((path for path in runs.iterdir() if (path / "status.json").is_file()), key=lambda path: path.name)


def headless(config: Path, runs: Path) -> float:
    subprocess.run([sys.executable, "-m", "workbench", "--run", str(config), "--runs-dir", str(runs)], cwd=REPO,
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return speed(newest_run(runs))


def launched(config: Path, runs: Path, size: tuple[int, int]) -> float:
    return asyncio.run(_launched(config, runs, size))


async def _launched(config: Path, runs: Path, size: tuple[int, int]) -> float:
    from core.prepare.workspace import Workspace
    from workbench.app import WorkbenchApp

    app = WorkbenchApp(Workspace.open(config), runs_dir=runs)
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        before, started = time.process_time(), time.perf_counter()
        await pilot.press("s")
        await pilot.pause(0.5)
        run = app.training
        if run is None:
            raise SystemExit("the Train screen did not start a run")
        while run.is_running or not str(app.screen.query_one("#train-status").render()).startswith(ENDED):
            await asyncio.sleep(1.0)  # not pilot.pause: it repaints the whole screen, which the app alone would not
        if run.state != "finished":
            raise SystemExit(f"the launched run ended {run.state}: {run.error_text}")
        used, took = time.process_time() - before, time.perf_counter() - started
        print(f"  the app used {used:.1f}s of CPU while following the run for {took:.0f}s ({used / took:.1%} of a core)",
              flush=True)
        return speed(run.run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "workbench-bench")
    parser.add_argument("--per-class", type=int, default=2000, help="training images per class (5 classes)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="headless/launched pairs, alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="80x24", help="the app's terminal size, WxH")
    args = parser.parse_args()
    size = tuple(int(part) for part in args.size.split("x"))
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    config = write_config(args.work, args.per_class, args.epochs, args.device)
    runs = Path(tempfile.mkdtemp(prefix="launch-speed-runs-", dir=args.work))
    results: dict[str, list[float]] = {"headless": [], "launched": []}
    for repeat in range(args.repeats):
        for kind in ("headless", "launched") if repeat % 2 == 0 else ("launched", "headless"):
            value = headless(config, runs / kind) if kind == "headless" else launched(config, runs / kind, size)
            results[kind].append(value)
            print(f"  {kind} run {repeat + 1}: {value:,.0f} samples/s", flush=True)
    ours, base = statistics.median(results["launched"]), statistics.median(results["headless"])
    print(f"headless={base:.1f} samples/s")
    print(f"launched={ours:.1f} samples/s (the app following at {args.size})")
    print(f"ratio={ours / base:.3f} target>={TARGET} {'met' if ours / base >= TARGET else 'NOT met'} "
          f"epochs={args.epochs} images={args.per_class * 5} device={args.device} repeats={args.repeats} "
          f"total={time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
