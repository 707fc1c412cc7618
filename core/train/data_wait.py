"""Is training input-bound: the share of each epoch's training time spent waiting for the next batch.

The wait is the time blocked in the batch iterator's `next()`; everything else in the epoch is the
step (forward, backward, optimizer), so the two shares add up to one. When waiting dominates, faster
arithmetic will not help, and `input_bound_advice` names the config keys that feed batches faster.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from core.config import RunConfig

__all__ = ["INPUT_BOUND_SHARE", "DataWait", "input_bound_advice"]

INPUT_BOUND_SHARE = 0.5  # waiting for data at least half the time: the loader is the bottleneck
T = TypeVar("T")


class DataWait:
    """Accumulates the time spent waiting for batches; `share` ends the epoch's measurement."""

    def __init__(self) -> None:
        self.waited = 0.0

    def timed(self, batches: Iterable[T]) -> Iterator[T]:
        """The batches, with the time each `next()` blocks added to `waited`."""
        iterator = iter(batches)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                self.waited += time.perf_counter() - started
                return
            self.waited += time.perf_counter() - started
            yield batch

    def share(self, seconds: float) -> float:
        """The waited share of `seconds` of training (0..1), and a fresh count for the next epoch."""
        share = min(1.0, self.waited / seconds) if seconds > 0 else 0.0
        self.waited = 0.0
        return share


def input_bound_advice(share: float, config: RunConfig) -> str | None:
    """What to change when `share` of the time went to waiting for data; None when the loader keeps up."""
    if share < INPUT_BOUND_SHARE:
        return None
    data = config.data
    if data.cache != "off":  # batches come from decoded memory unless it does not fit the budget
        fix = f"raise data.memory_budget_mb (now {data.memory_budget_mb}) so the decoded set is cached, or set data.cache: on"
    else:
        fix = "set data.cache: auto (decode once into memory)"
    return (f"input-bound: {share:.0%} of training time waits for data; {fix}, raise data.loader.num_workers "
            f"(now {data.loader.num_workers}), or lower data.image_size (now {data.image_size[0]}x{data.image_size[1]})")
