"""What the machine is doing while a run trains: CPU use, the process's memory and each GPU's state.

CPU and memory come from psutil (of this process, or of another one: the app watches its run's process); NVIDIA GPUs from NVML (nvidia-ml-py), imported only when a sample is
first taken. A machine without NVIDIA GPUs, drivers or the library simply has no GPUs here, and a GPU
whose counter is not supported shows that figure as None.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import psutil

from core.columns import bytes_text

__all__ = ["GpuSample", "GpuSource", "NvmlSource", "SystemMonitor", "SystemSample"]


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    utilisation: float | None  # percent of the last sample period a kernel ran
    memory_used: int | None  # bytes
    memory_total: int | None
    temperature: float | None  # degrees Celsius
    power: float | None  # watts

    def summary(self) -> str:
        parts = [f"gpu{self.index}"]
        if self.utilisation is not None:
            parts.append(f"{self.utilisation:.0f}%")
        if self.memory_used is not None and self.memory_total:
            parts.append(f"{self.memory_used / 2**30:.1f}/{self.memory_total / 2**30:.1f} GiB")
        if self.temperature is not None:
            parts.append(f"{self.temperature:.0f}°C")
        if self.power is not None:
            parts.append(f"{self.power:.0f} W")
        return " ".join(parts)


@dataclass(frozen=True)
class SystemSample:
    cpu_percent: float  # of all cores together, since the previous sample
    process_memory: int  # resident bytes of this process
    gpus: list[GpuSample] = field(default_factory=list)

    def summary(self) -> str:
        """One line: 'cpu 85%  mem 1.2 GB  gpu0 97% 10.1/80.0 GiB 61°C 250 W'."""
        return "  ".join([f"cpu {self.cpu_percent:.0f}%", f"mem {bytes_text(self.process_memory)}",
                          *(gpu.summary() for gpu in self.gpus)])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SystemSample:
        """The sample an EpochEnded event carries, read back from events.jsonl."""
        return cls(float(data["cpu_percent"]), int(data["process_memory"]), [GpuSample(**gpu) for gpu in data.get("gpus", [])])


class GpuSource(Protocol):
    def sample(self) -> list[GpuSample]: ...


class NvmlSource:
    """NVIDIA GPUs through NVML; no GPUs at all when the library, the driver or a GPU is missing."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] | None = None

    def sample(self) -> list[GpuSample]:
        if self._handles is None:
            self._handles = self._open()
        return [self._read(index, handle) for index, handle in enumerate(self._handles)]

    def _open(self) -> list[Any]:
        try:
            import pynvml
        except ImportError:
            return []
        try:
            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except pynvml.NVMLError:  # no driver or no GPU (LibraryNotFound, DriverNotLoaded, ...): no GPUs
            return []
        self._nvml = pynvml
        return handles

    def _read(self, index: int, handle: Any) -> GpuSample:
        nvml = self._nvml
        memory = self._optional(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        return GpuSample(
            index=index,
            name=str(self._optional(lambda: nvml.nvmlDeviceGetName(handle)) or f"GPU {index}"),
            utilisation=self._optional(lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
            memory_used=int(memory.used) if memory is not None else None,
            memory_total=int(memory.total) if memory is not None else None,
            temperature=self._optional(lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))),
            power=self._optional(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),  # milliwatts
        )

    def _optional(self, read: Callable[[], Any]) -> Any:
        """A figure this GPU may not support (NVMLError_NotSupported): None then."""
        try:
            return read()
        except self._nvml.NVMLError:
            return None


class SystemMonitor:
    """Takes samples of one process (this one by default) and the machine; `gpus` may be any source (tests pass a fake).

    `sample` raises ProcessLookupError once the watched process has ended."""

    def __init__(self, gpus: GpuSource | None = None, pid: int | None = None) -> None:
        self._pid = pid
        self._process: psutil.Process | None = None  # opened by the first sample, which may run in a thread
        self._gpus = gpus if gpus is not None else NvmlSource()
        psutil.cpu_percent(interval=None)  # starts the CPU measurement; the first sample covers the time since

    def sample(self) -> SystemSample:
        try:
            if self._process is None:
                self._process = psutil.Process(self._pid)
            memory = self._process.memory_info().rss
        except psutil.NoSuchProcess as exc:
            raise ProcessLookupError(f"process {self._pid} has ended") from exc
        return SystemSample(cpu_percent=psutil.cpu_percent(interval=None), process_memory=memory, gpus=self._gpus.sample())
