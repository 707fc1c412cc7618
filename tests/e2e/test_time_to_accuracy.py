"""bench/time_to_accuracy.py --smoke: both CIFAR-10 recipes train one short epoch on a tiny generated folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_both_recipes_end_to_end() -> None:
    result = subprocess.run([sys.executable, "bench/time_to_accuracy.py", "--smoke"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("cifar10-tutorial", "cifar10-fast"):
        assert f"{name}".ljust(18) + " epoch   1" in result.stdout
    assert "cifar10_tutorial.yaml" in result.stdout and "cifar10_fast.yaml" in result.stdout
