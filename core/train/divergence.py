"""Non-finite losses: found without a device sync per step, and never saved as weights.

In `stop` mode the guard keeps the first bad batch's number on the device and the engine reads
it where it synchronises anyway (batch reports, epoch ends, before every checkpoint). In `skip`
mode each step is checked before the optimizer runs (one sync per step: on a GPU that costs
some speed, on a CPU nothing).
"""
from __future__ import annotations

import torch
from torch import nn

from core.errors import WorkbenchError

HINT = ("hint: lower train.optimizer.lr, add train.grad_clip: {norm: 1.0}, or set train.on_nan: skip "
        "to skip such batches")


class NonFiniteLoss(WorkbenchError):
    """Training diverged: a loss or the weights became NaN or infinite."""


class LossGuard:
    """Watches every batch's loss; `check()` raises NonFiniteLoss naming the first bad epoch and batch."""

    def __init__(self, device: torch.device, batches_per_epoch: int, on_nan: str, log) -> None:
        self.batches_per_epoch, self.skip, self.log = batches_per_epoch, on_nan == "skip", log
        self._counter = torch.zeros((), dtype=torch.long, device=device)
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.skipped = 0

    def watch(self, loss: torch.Tensor, epoch: int, batch: int) -> bool:
        """Note this batch's loss; True when the step must be skipped (skip mode only)."""
        if self.skip:
            if torch.isfinite(loss).item():
                return False
            self.skipped += 1
            self.log(f"skipped epoch {epoch} batch {batch}: the loss is {loss.item()}")
            return True
        self._counter += 1
        bad = ~torch.isfinite(loss.detach()) & (self._first_bad < 0)
        self._first_bad = torch.where(bad, self._counter, self._first_bad)
        return False

    def diverged(self) -> bool:
        """Whether a batch so far had a NaN or infinite loss (synchronises)."""
        return bool(self._first_bad.item() >= 0)

    def check(self, force: bool = False) -> None:
        """Raise NonFiniteLoss if a batch so far had a NaN or infinite loss (synchronises);
        `force`: another process found one."""
        first = int(self._first_bad.item())
        if force and first < 0:
            raise NonFiniteLoss(f"the loss became NaN or infinite in another process of this run\n    {HINT}")
        if first >= 0:
            epoch, batch = divmod(first - 1, self.batches_per_epoch)
            raise NonFiniteLoss(f"the loss became NaN or infinite at epoch {epoch + 1}, batch {batch + 1} "
                                f"(step {first}); the run stopped and kept the last finite checkpoint\n    {HINT}")


def check_finite_weights(model: nn.Module, epoch: int) -> None:
    """Refuse to save weights that are NaN or infinite."""
    tensors = {name: t for name, t in model.state_dict().items() if t.is_floating_point()}
    if not tensors or torch.stack([torch.isfinite(t).all() for t in tensors.values()]).all().item():
        return  # one sync for the whole model
    bad = [name for name, tensor in tensors.items() if not torch.isfinite(tensor).all()]
    if bad:
        raise NonFiniteLoss(f"the weights became NaN or infinite in epoch {epoch} ({', '.join(bad[:3])}"
                            f"{', ...' if len(bad) > 3 else ''}); not saved, the last finite checkpoint is kept\n"
                            f"    {HINT}")
