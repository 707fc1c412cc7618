"""train.budget under torchrun: two gloo processes whose clocks disagree train rank 0's plan, to the same step."""
from __future__ import annotations

import itertools
import json
import os
from functools import partial
from pathlib import Path

import torch
import torch.multiprocessing
from torch.optim.optimizer import register_optimizer_step_pre_hook

from core.config import validate_config
from core.runs.recorder import create_run
from core.train import distributed, engine
from core.train.budget import BudgetPlanner
from core.train.events import BudgetPlanned
from test_distributed import free_port


def train_rank(rank: int, port: int, plain: dict, runs: Path) -> None:
    """One rank, its planner's clock ticking 0.1 s per reading on rank 0 and 0.3 s on rank 1; it writes the
    optimizer steps it took and the plans it followed to runs/rank<rank>.json."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")
    torch.set_num_threads(1)
    ticks, tick = itertools.count(), (0.1, 0.3)[rank]
    engine.BudgetPlanner = partial(BudgetPlanner, clock=lambda: next(ticks) * tick)
    steps, plans = [0], []
    register_optimizer_step_pre_hook(lambda *args: steps.__setitem__(0, steps[0] + 1))
    world = distributed.start(distributed.World.from_environment(), "cpu")
    config = validate_config(plain)

    def keep_plans(event) -> None:
        if isinstance(event, BudgetPlanned):
            plans.append(event.steps)

    try:
        run = create_run(runs, config.name, config) if world.is_main else None
        engine.fit(config, run, emit=keep_plans, should_stop=lambda: False, world=world, started=0.0)
    finally:
        distributed.stop(world)
    (runs / f"rank{rank}.json").write_text(json.dumps({"steps": steps[0], "plans": plans}))


def test_ranks_follow_rank_0s_plan_and_stop_at_the_same_step(tiny, tmp_path: Path) -> None:
    config = tiny("data.batch_size=8", "train.budget=12s", "train.epochs=200", "train.schedule=one_cycle")
    torch.multiprocessing.spawn(train_rank, (free_port(), config.to_plain(), tmp_path), nprocs=2)
    first, second = (json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1))
    assert first["plans"] and first == second
    assert first["steps"] == first["plans"][-1]
