"""Training on several processes with torch.distributed, as started by torchrun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK for each process; `World.from_environment`
reads them, `start` joins the process group (nccl on CUDA, gloo on CPU). The engine then wraps
the model in DistributedDataParallel (gradients all-reduced once per optimizer step: accumulated
micro-batches run under `no_sync`), gives each rank its share of every global batch, reduces the
metrics across ranks, and lets rank 0 alone write the run directory.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist

from core.errors import WorkbenchError


TORCHRUN_MARK = "TORCHELASTIC_RUN_ID"  # torchrun sets it in every process it starts


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: no process group joined (yet)
    launched: bool = False  # started by torchrun, even as its only process

    @property
    def distributed(self) -> bool:
        return self.launched or self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> "World":
        """This process's place in a torchrun job; a single process when not started by torchrun. A torchrun
        job of one process trains through its backend too (DDP on nccl, as torchvision's reference does), so
        one GPU checks the path that many will take."""
        try:
            size = int(os.environ.get("WORLD_SIZE", "1"))
            rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError as exc:
            raise WorkbenchError(f"torchrun's RANK, WORLD_SIZE or LOCAL_RANK is not a number: {exc}") from exc
        launched = size > 1 or TORCHRUN_MARK in os.environ
        return cls(rank, size, local_rank, launched=launched) if launched else cls()


def start(world: World, device_type: str) -> World:
    """Join the process group: nccl for CUDA devices, gloo otherwise. A process torchrun did not start joins nothing."""
    if not world.distributed:
        return world
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend, device_id=torch.device("cuda", world.local_rank))  # no guessing at barriers
    else:
        dist.init_process_group(backend)
    return World(world.rank, world.size, world.local_rank, backend, world.launched)


def stop(world: World, finished: bool = True) -> None:
    """Leave the process group. After a run that ended normally every rank first waits for the others, so
    no rank tears its connections down while another still talks to it; after a failure it just leaves.
    (A DistributedDataParallel model keeps gloo's group alive past this: the `workbench` command ends a
    torchrun process without the interpreter's teardown, see workbench.cli.end_torchrun_process.)"""
    if not (world.distributed and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def rank_device(world: World, device: torch.device) -> torch.device:
    """Each rank trains on its own GPU (cuda:LOCAL_RANK); CPU ranks share the CPU."""
    if world.distributed and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def collective_device(world: World) -> torch.device:
    """Where a collective's tensors must be: nccl moves CUDA tensors only (a CPU one fails with "No backend
    type associated with device type cpu"), gloo CPU ones."""
    if world.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_across(world: World, *values: torch.Tensor) -> list[torch.Tensor]:
    """Each value summed over the ranks (itself in a single process), wherever the values are."""
    if not world.distributed:
        return list(values)
    stacked = torch.stack([v.detach().to(collective_device(world), torch.float64) for v in values])
    dist.all_reduce(stacked)
    return list(stacked.unbind())


def any_across(world: World, *flags: bool) -> list[bool]:
    """Each flag true on any rank: how ranks agree to stop at the same batch."""
    if not world.distributed:
        return list(flags)
    values = torch.tensor([float(f) for f in flags], device=collective_device(world))
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(v) for v in values.tolist()]


def from_main(world: World, values: list[float]) -> list[float]:
    """Rank 0's values on every rank: how ranks follow one decision (a time budget's plan)."""
    if not world.distributed:
        return values
    sent = torch.tensor(values, dtype=torch.float64, device=collective_device(world))
    dist.broadcast(sent, src=0)
    return sent.tolist()


@contextlib.contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block before the others (generating, downloading or caching data once)."""
    if world.distributed and not world.is_main:
        dist.barrier()
    yield
    if world.distributed and world.is_main:
        dist.barrier()
