"""Will it fit: training memory from the layer table, before any weight exists.

A training step holds the parameters, their gradients, the optimizer's state and the activations
autograd saves for the backward pass. The first three come from the parameter count; activations
from each layer's output size (core/model/metrics.py) times the batch size, at the precision's bytes
per value. Which tensors autograd really saves differs by layer (a ReLU keeps its output, a max-pool
its indices as int64), so the estimate is a model, tested against measured allocations
(tests/core/test_memory_estimate.py states the tolerance).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.columns import bytes_text
from core.config import RunConfig
from core.model.metrics import BYTES_PER_VALUE
from core.model.stack import LayerRow, StackReport
from core.recipe.optimizers import OPTIMIZERS

__all__ = ["MemoryEstimate", "available_memory", "estimate_memory", "optimizer_state_per_value"]

PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}  # autocast's activations; weights stay float32
_MAX_BATCH = 1 << 20
_VIEWS = {"flatten"}  # layers whose output shares its input's memory


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training step needs at `batch_size`; `layers` is each layer's activations for the batch."""

    batch_size: int
    precision: str
    parameters: int
    gradients: int
    optimizer_state: int
    layers: list[tuple[str, int]]

    @property
    def activations(self) -> int:
        return sum(size for _, size in self.layers)

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer_state + self.activations

    def largest_batch(self, available: int) -> int:
        """The largest batch size whose step fits in `available` bytes (0 when not even one sample does)."""
        per_sample = self.activations / self.batch_size
        room = available - (self.parameters + self.gradients + self.optimizer_state)
        if room <= 0:
            return 0
        return _MAX_BATCH if per_sample == 0 else min(_MAX_BATCH, int(room // per_sample))

    def summary(self, device: str, available: int) -> str:
        """One line: the parts, the total and the largest batch that fits in `available` bytes on `device`."""
        largest = self.largest_batch(available)
        fits = f"fits on {device} up to batch {largest:,}" if largest >= self.batch_size else \
            f"does not fit on {device} at batch {self.batch_size} (up to batch {largest:,})"
        return (f"memory at batch {self.batch_size}, {self.precision}: {bytes_text(self.parameters)} parameters, "
                f"{bytes_text(self.gradients)} gradients, {bytes_text(self.optimizer_state)} optimizer state, "
                f"{bytes_text(self.activations)} activations; total {bytes_text(self.total)}; {fits} "
                f"({bytes_text(available)} available)")


def estimate_memory(config: RunConfig, report: StackReport, batch_size: int | None = None) -> MemoryEstimate:
    """The estimate for the config's model (its layer table in `report`), optimizer and precision."""
    batch = batch_size or config.data.planned_batch_size
    precision = config.train.precision
    scale = batch * PRECISION_BYTES[precision] / BYTES_PER_VALUE  # the table's sizes are one float32 sample
    input_bytes = int(torch.Size(report.input_shape).numel() * BYTES_PER_VALUE * scale)
    layers = [("input", input_bytes)] + [(f"{row.index} {row.spec.kind}", int(_saved_bytes(row) * scale))
                                         for row in report.rows]
    trainable = report.total_trainable
    return MemoryEstimate(batch_size=batch, precision=precision,
                          parameters=(trainable + report.total_frozen) * BYTES_PER_VALUE,
                          gradients=trainable * BYTES_PER_VALUE,
                          optimizer_state=trainable * BYTES_PER_VALUE * optimizer_state_per_value(config),
                          layers=layers)


def _saved_bytes(row: LayerRow) -> int:
    """One float32 sample's activations for a row, a residual block's own layers included."""
    own = 0 if row.spec.kind in _VIEWS else row.activation_bytes
    return own + sum(_saved_bytes(inner) for inner in row.body)


def optimizer_state_per_value(config: RunConfig) -> int:
    """How many values the configured optimizer keeps per trainable value (Adam 2, SGD with momentum 1, ...),
    found by stepping it once on a small weight matrix, so every entry of the optimizer table is covered (one
    that hands matrices to inner optimizers, as muon does, keeps their state there)."""
    weight = torch.nn.Parameter(torch.ones(8, 8))
    optimizer = OPTIMIZERS[config.train.optimizer.name].build(torch.nn.ParameterList([weight]), config.train.optimizer)
    weight.grad = torch.ones(8, 8)
    optimizer.step()
    holders = [optimizer, *getattr(optimizer, "inner", [])]
    return sum(1 for holder in holders for state in holder.state.values() for value in state.values()
               if isinstance(value, torch.Tensor) and value.numel() == weight.numel())


def available_memory(device: torch.device) -> int:
    """Bytes a run could use on `device`: CUDA's total memory, else the system's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    import psutil

    return int(psutil.virtual_memory().available)
