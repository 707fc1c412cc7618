"""torchrun's end beside CPU hogs: does every run of two gloo processes exit 0, with no rank aborted?

  python bench/torchrun_stress.py                    10 runs beside 2 busy processes
  python bench/torchrun_stress.py --runs 20 --hogs 4

A distributed run that has trained and printed its summary once died at exit on a busy machine (a
rank's SIGABRT, "terminate called without an active exception": DistributedDataParallel keeps gloo's
process group alive past destroy_process_group, and the interpreter's teardown aborted on it; the
`workbench` command now ends torchrun's processes without that teardown). Each run here is what
tests/e2e/test_torchrun.py runs: `torchrun --standalone --nproc_per_node=2 -m workbench train` on a
small shapes config, two epochs on the CPU, while `--hogs` processes spin on the same cores. A run passes when torchrun exits 0 and
nothing in its output says a rank aborted. Prints each run, then the count.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.test_torchrun import CONFIG  # noqa: E402 - the e2e test's config: the same run it checks

ABORTED = ("terminate called", "SIGABRT", "Signal 6", "exitcode  : -6")


def spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def one_run(folder: Path, number: int) -> tuple[bool, float, str]:
    """(passed, seconds, why it failed): one torchrun of two processes, from a fresh runs folder."""
    config = folder / "ddp.yaml"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "workbench",
               "train", str(config), "--runs-dir", str(folder / f"runs{number}")]
    began = time.monotonic()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    seconds = time.monotonic() - began
    output = result.stdout + result.stderr
    aborted = next((sign for sign in ABORTED if sign in output), None)
    if result.returncode != 0 or aborted:
        return False, seconds, f"exit {result.returncode}" + (f", {aborted!r} in its output" if aborted else "")
    return True, seconds, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=2, help="busy processes beside the runs")
    args = parser.parse_args()
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=spin, args=(stop,), daemon=True) for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    passed = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            (folder / "ddp.yaml").write_text(CONFIG.format(data=folder / "shapes", batch=16))
            for number in range(1, args.runs + 1):
                ok, seconds, why = one_run(folder, number)
                passed += ok
                print(f"run {number}: {'passed' if ok else 'FAILED: ' + why}  {seconds:.1f}s", flush=True)
    finally:
        stop.set()
        for hog in hogs:
            hog.join()
    print(f"{passed} of {args.runs} torchrun runs passed beside {args.hogs} CPU hogs on {os.cpu_count()} cores")
    sys.exit(0 if passed == args.runs else 1)


if __name__ == "__main__":
    main()
