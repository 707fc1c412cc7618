"""Out of memory: a clear message with the batch size and the device's memory, and `batch_size: auto`."""
from __future__ import annotations

import gc
from typing import Callable

import torch
from torch import nn

from core.config import AUTO_BATCH_START, RunConfig
from core.errors import WorkbenchError

AUTO_BATCH_LIMIT = 4096


class OutOfMemory(WorkbenchError):
    """The device ran out of memory for this model and batch size."""


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OOM on any device: CUDA's OutOfMemoryError, or the CPU allocator's RuntimeError."""
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def device_memory(device: torch.device) -> str:
    """'80.0 GiB, 1.2 GiB free' on CUDA; '' elsewhere."""
    if device.type != "cuda":
        return ""
    free, total = torch.cuda.mem_get_info(device)
    return f" ({total / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free)"


def out_of_memory(device: torch.device, batch_size: int) -> OutOfMemory:
    return OutOfMemory(f"out of memory on {device}{device_memory(device)} at data.batch_size {batch_size}\n"
                       f"    hint: lower data.batch_size, set data.batch_size: auto, or train with precision bf16")


def with_batch_size(config: RunConfig, batch_size: int) -> RunConfig:
    return config.model_copy(update={"data": config.data.model_copy(update={"batch_size": batch_size})})


def find_batch_size(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], device: torch.device,
                    limit: int, log: Callable[[str], None]) -> int:
    """The largest power of two up to `limit` for which a training step fits the device's memory.

    Only CUDA is probed; elsewhere memory is not measured safely, so AUTO_BATCH_START is used.
    """
    if device.type != "cuda":
        log(f"data.batch_size: auto uses {AUTO_BATCH_START} on {device.type} (only GPU memory is probed)")
        return min(AUTO_BATCH_START, limit)
    fits = _probe(make_model, input_shape, device, min(limit, AUTO_BATCH_LIMIT))
    gc.collect()  # the probe's model and gradients
    torch.cuda.empty_cache()
    if fits == 0:
        raise out_of_memory(device, 1)
    log(f"data.batch_size: auto chose {fits} on {device}{device_memory(device)}")
    return fits


def largest_fitting(fits: Callable[[int], bool], limit: int) -> int:
    """The largest power of two up to `limit` for which fits(size) holds, trying 1, 2, 4, ... (0 if none)."""
    best, size = 0, 1
    while size <= limit and fits(size):
        best, size = size, size * 2
    return best


def _probe(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], device: torch.device, limit: int) -> int:
    model = make_model().to(device)
    return largest_fitting(lambda size: _step_fits(model, input_shape, size, device), limit)


def _step_fits(model: nn.Module, input_shape: tuple[int, ...], size: int, device: torch.device) -> bool:
    try:
        images = torch.randn(size, *input_shape, device=device)
        model(images).float().sum().backward()
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize(device)
        return True
    except torch.OutOfMemoryError:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        return False
