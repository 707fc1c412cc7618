"""bench/gpu.py --smoke on the CPU: the GPU check's paths run and print their table rows (CI has no GPU)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def gpu_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench/gpu.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_gpu_check_prints_a_row_per_path_and_says_what_it_skipped() -> None:
    result = gpu_check("--smoke", "--device", "cpu", "--checks", "precision,compile,ddp,speed,devices")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| check | result | against | note |"
    cells = {row.split(" | ")[0].lstrip("| "): row for row in rows[1:]}
    for precision in ("fp32", "bf16", "fp16"):
        assert "samples/s" in cells[f"precision {precision}"]
    assert "fell back to fp32" in cells["precision fp16"]  # fp16 autocast is CUDA's
    assert "skipped" in cells["compile"] and "needs real images" in cells["speed recipe"]
    assert "| finished |" in cells["ddp 1 process"] and "backend gloo, world size 1" in cells["ddp 1 process"]
    assert "| cpu |" in cells["device list"]


def test_asking_for_cuda_where_there_is_none_or_an_unknown_check_is_a_clear_error() -> None:
    if not torch.cuda.is_available():
        result = gpu_check("--device", "cuda")
        assert result.returncode == 2 and "no CUDA device here" in result.stderr
    result = gpu_check("--checks", "precision,speeed")
    assert result.returncode == 2 and "unknown check 'speeed'" in result.stderr


def test_a_failed_torchrun_row_names_workbenchs_error_not_torchruns_boilerplate(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # bench/ is no package of the install
    from bench.gpu import workbench_error

    torchrun = ("workbench: training failed: RuntimeError: No backend type associated with device type cpu\n"
                "traceback in runs/x/train.log\n" + "=" * 60 + "\n  error_file: <N/A>\n" + "=" * 60 + "\n")
    assert workbench_error(torchrun) == ("workbench: training failed: RuntimeError: "
                                         "No backend type associated with device type cpu")
    assert workbench_error("Segmentation fault\n") == "Segmentation fault"
