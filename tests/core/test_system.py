"""What the machine is doing (psutil, a fake NVML) and whether training waits for its data."""
from __future__ import annotations

import csv
import subprocess
import sys
import time
import types

import psutil
import pytest
import torch

from core.train.data_wait import INPUT_BOUND_SHARE, DataWait, input_bound_advice
from core.train.events import EpochEnded
from core.train.system import GpuSample, NvmlSource, SystemMonitor, SystemSample

H100 = GpuSample(index=0, name="NVIDIA H100", utilisation=97.0, memory_used=10 * 2**30, memory_total=80 * 2**30,
                 temperature=61.0, power=250.4)


class FakeGpus:
    def sample(self) -> list[GpuSample]:
        return [H100]


def test_a_sample_has_real_cpu_and_memory_figures_and_the_gpu_sources() -> None:
    monitor = SystemMonitor(FakeGpus())
    torch.randn(256, 256) @ torch.randn(256, 256)  # some work between the samples
    sample = monitor.sample()
    assert 0 <= sample.cpu_percent <= 100
    assert sample.process_memory == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)
    assert sample.gpus == [H100]
    assert sample.summary().endswith("  gpu0 97% 10.0/80.0 GiB 61°C 250 W") and sample.summary().startswith("cpu ")
    assert SystemSample.from_dict(sample.to_dict()) == sample


def test_another_process_is_watched_until_it_ends() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monitor = SystemMonitor(FakeGpus(), pid=child.pid)
        assert monitor.sample().process_memory == pytest.approx(psutil.Process(child.pid).memory_info().rss, rel=0.2)
    finally:
        child.kill()
        child.wait()
    with pytest.raises(ProcessLookupError):
        monitor.sample()


def fake_nvml(**overrides) -> types.ModuleType:
    """A pynvml with one GPU whose figures come from `overrides` (a callable raising means 'not supported')."""
    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = NVMLError
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: 1
    nvml.nvmlDeviceGetHandleByIndex = lambda index: f"handle{index}"
    nvml.nvmlDeviceGetName = lambda handle: "Fake GPU"
    nvml.nvmlDeviceGetUtilizationRates = lambda handle: types.SimpleNamespace(gpu=40)
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(used=2**30, total=8 * 2**30)
    nvml.nvmlDeviceGetTemperature = lambda handle, sensor: 55
    nvml.nvmlDeviceGetPowerUsage = lambda handle: 123_000
    for name, value in overrides.items():
        setattr(nvml, name, value)
    return nvml


class NVMLError(Exception):
    pass


def unsupported(*args):
    raise NVMLError("NVMLError_NotSupported")


def test_nvml_figures_and_unsupported_ones(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(nvmlDeviceGetPowerUsage=unsupported))
    [gpu] = NvmlSource().sample()
    assert gpu == GpuSample(0, "Fake GPU", 40.0, 2**30, 8 * 2**30, 55.0, None)
    assert gpu.summary() == "gpu0 40% 1.0/8.0 GiB 55°C"


def test_no_driver_means_no_gpus_quietly(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(nvmlInit=unsupported))
    assert NvmlSource().sample() == []
    monkeypatch.setitem(sys.modules, "pynvml", None)  # the library not installed: import fails
    assert NvmlSource().sample() == []


def train_on(batches, steps: int) -> float:
    """The waited share of a loop that computes a fixed step on each batch."""
    wait, weights = DataWait(), torch.randn(128, 128)
    started = time.perf_counter()
    for batch in wait.timed(batches):
        for _ in range(steps):
            batch = torch.tanh(batch @ weights)
    return wait.share(time.perf_counter() - started)


def slow_source(count: int):
    for _ in range(count):
        time.sleep(0.05)  # a loader that decodes slowly: the thing being measured
        yield torch.randn(64, 128)


def test_a_slow_data_source_is_diagnosed_and_an_in_memory_one_is_not(tiny) -> None:
    in_memory = [torch.randn(64, 128) for _ in range(10)]
    fast, slow = train_on(in_memory, steps=20), train_on(slow_source(10), steps=1)
    assert fast < 0.2 and slow >= INPUT_BOUND_SHARE, (fast, slow)
    config = tiny("data.cache=off", "data.loader.num_workers=2")
    assert input_bound_advice(fast, config) is None
    advice = input_bound_advice(slow, config)
    assert advice.startswith(f"input-bound: {slow:.0%} of training time waits for data; set data.cache: auto")
    assert "data.loader.num_workers (now 2)" in advice and "data.image_size (now 16x16)" in advice
    assert "data.memory_budget_mb (now 2048)" in input_bound_advice(slow, tiny())


def test_each_epoch_reports_its_data_wait_and_the_machine(tiny, train, tmp_path) -> None:
    run, events = train(tiny(), tmp_path)
    epochs = [event for event in events if isinstance(event, EpochEnded)]
    assert len(epochs) == 2 and all(0 <= e.data_wait <= 1 for e in epochs)
    sample = SystemSample.from_dict(epochs[-1].system)
    assert sample.process_memory > 50 * 2**20 and 0 <= sample.cpu_percent <= 100
    with open(run.path / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["data_wait"]) for row in rows] == pytest.approx([e.data_wait for e in epochs])
