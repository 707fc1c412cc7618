"""Freed CPU memory is kept for the next step: no page faults for a step's tensors the second time."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.train.cpu_memory import has_glibc

ROOT = Path(__file__).resolve().parents[2]

# the minor page faults of five repetitions of a step: 192 MiB of tensors, filled and freed together
STEP_FAULTS = """
import resource, sys, torch
from core.train.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults_of_a_step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensors = [torch.empty(2**21).fill_(1.0) for _ in range(24)]
    del tensors
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(*[faults_of_a_step() for _ in range(5)])
"""


def step_faults(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", STEP_FAULTS, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return [int(faults) for faults in done.stdout.split()]


@pytest.mark.skipif(not has_glibc(), reason="glibc's malloc only")
def test_a_steps_freed_memory_is_reused_without_faulting_its_pages_in_again() -> None:
    pages = 192 * 2**20 // 4096
    assert step_faults("default")[1] > pages // 2  # glibc trimmed the heap after the first: its pages fault in again
    assert sum(step_faults("keep")[2:]) < pages // 10  # the heap has settled at the step's size


def test_a_cpu_run_keeps_freed_memory_unless_told_not_to(tiny, train, tmp_path: Path, monkeypatch) -> None:
    calls: list[bool] = []

    def keep_freed_memory() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr("core.train.engine.keep_freed_memory", keep_freed_memory)
    run, _ = train(tiny("train.epochs=1"), tmp_path / "kept")
    assert calls == [True] and "freed blocks are kept" in run.log_path.read_text()
    run, _ = train(tiny("train.epochs=1", "train.reuse_cpu_memory=false"), tmp_path / "released")
    assert calls == [True] and "freed blocks are kept" not in run.log_path.read_text()
