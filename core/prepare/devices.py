"""Choosing the training device: auto, cpu, cuda, cuda:N or mps."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import torch

from core.errors import WorkbenchError


def resolve_device(name: str) -> torch.device:
    """Turn a config's device name into an available torch.device, or explain why not."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise WorkbenchError(f"train.device '{name}' is not a device torch knows ({exc})") from None
    hint = "\n    hint: use auto or cpu, e.g. --set train.device=cpu"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise WorkbenchError(f"train.device '{name}' does not exist here: this machine has no CUDA{hint}")
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            present = ", ".join(f"cuda:{index}" for index in range(count))
            raise WorkbenchError(f"train.device '{name}' does not exist here: this machine has {count} CUDA "
                                 f"device{'s' if count != 1 else ''} ({present}){hint}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise WorkbenchError(f"train.device 'mps' does not exist here: MPS (Apple GPUs) is not available{hint}")
    return device


def describe_device(device: torch.device) -> str:
    """A human name for a device, e.g. 'cuda:0 (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


@dataclass(frozen=True)
class DeviceChoice:
    """A device this machine has: its train.device value and a line describing it."""

    value: str  # cpu, cuda:0, mps
    description: str  # e.g. "cuda:0 NVIDIA H200, 139.1 of 139.8 GiB free"


def list_devices() -> list[DeviceChoice]:
    """The devices training can use here: the CPU with its threads, each CUDA device by index with its
    name and free memory, MPS. Creates no CUDA context: free memory comes from nvidia-smi when present."""
    devices = [DeviceChoice("cpu", f"cpu, {torch.get_num_threads()} threads")]
    if torch.cuda.is_available():
        free = _free_memory_by_uuid()
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            total = props.total_memory / 2**30
            free_mib = free.get(str(getattr(props, "uuid", "")).removeprefix("GPU-"))
            memory = f"{free_mib / 1024:.1f} of {total:.1f} GiB free" if free_mib is not None else f"{total:.1f} GiB"
            devices.append(DeviceChoice(f"cuda:{index}", f"cuda:{index} {props.name}, {memory}"))
    if torch.backends.mps.is_available():
        devices.append(DeviceChoice("mps", "mps (Apple GPU)"))
    return devices


def _free_memory_by_uuid() -> dict[str, float]:
    """Free MiB of each NVIDIA GPU by UUID (without "GPU-"), from nvidia-smi; empty when it is missing or fails."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return {}
    try:
        result = subprocess.run([command, "--query-gpu=uuid,memory.free", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_free_memory(result.stdout)


def parse_free_memory(text: str) -> dict[str, float]:
    """nvidia-smi's `uuid, memory.free` CSV lines as {uuid without "GPU-": free MiB}."""
    free = {}
    for line in text.splitlines():
        uuid, _, mib = (part.strip() for part in line.partition(","))
        try:
            free[uuid.removeprefix("GPU-")] = float(mib)
        except ValueError:
            continue
    return free


def autocast_dtype(device: torch.device, precision: str) -> tuple[torch.dtype | None, str | None]:
    """The autocast dtype for train.precision on `device` (None: fp32), and a note when it falls back."""
    if precision == "fp32":
        return None, None
    if precision == "fp16":
        if device.type in ("cuda", "mps"):
            return torch.float16, None
        return None, f"precision fp16 needs a GPU; training in fp32 on {device.type} (bf16 may be fast here)"
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return None, "precision bf16: this CPU has no fast bf16 (AVX-512 BF16 or AMX); training in fp32"
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return None, "precision bf16: this GPU has no bf16 support; training in fp32 (try fp16)"
    return torch.bfloat16, None
