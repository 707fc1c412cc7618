"""The engine under torchrun: two gloo processes on the CPU, started here with torch.multiprocessing."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

from core.config import validate_config
from core.model.checkpoints import load_checkpoint
from core.runs.recorder import create_run
from core.runs.rundir import CheckpointKind, RunDir
from core.train import distributed, engine


def count_reductions(rank: int, port: int, plain: dict, runs: Path, size: int = 2) -> None:
    """One rank of a torchrun-like job of `size` processes: trains the config `plain` and writes how many gradient
    all-reduces and optimizer steps it made to runs/rank<rank>.json."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(size), TORCHELASTIC_RUN_ID="test")
    torch.set_num_threads(1)
    config = validate_config(plain)
    counts = {"reductions": 0, "steps": 0}

    def counting_allreduce(state, bucket):
        counts["reductions"] += 1
        return allreduce_hook(state, bucket)

    wrap = engine._Trainer._parallel

    def wrap_with_counter(trainer):
        model = wrap(trainer)
        model.register_comm_hook(None, counting_allreduce)
        return model

    engine._Trainer._parallel = wrap_with_counter
    register_optimizer_step_pre_hook(lambda *args: counts.update(steps=counts["steps"] + 1))
    world = distributed.start(distributed.World.from_environment(), "cpu")
    try:
        run = create_run(runs, config.name, config) if world.is_main else None
        engine.fit(config, run, emit=lambda event: None, should_stop=lambda: False, world=world)
    finally:
        distributed.stop(world)
    (runs / f"rank{rank}.json").write_text(json.dumps(counts))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_accumulating_ranks_all_reduce_once_per_optimizer_step_and_match_one_process(tiny, train, tmp_path) -> None:
    common = ["data.loader.shuffle=false", "train.optimizer={name: sgd, lr: 0.1, momentum: 0.9}", "train.epochs=1"]
    runs = tmp_path / "two"
    runs.mkdir()
    config = tiny(*common, "data.batch_size=6", "train.accumulate=2")
    torch.multiprocessing.spawn(count_reductions, (free_port(), config.to_plain(), runs), nprocs=2)
    for rank in (0, 1):  # 120 images in micro-batches of 2 ranks x 6: 10 backward passes, 5 optimizer steps
        assert json.loads((runs / f"rank{rank}.json").read_text()) == {"reductions": 5, "steps": 5}
    one, _ = train(tiny(*common, "data.batch_size=24"), tmp_path / "one")
    [two] = (path for path in runs.iterdir() if path.is_dir())
    expected = load_checkpoint(one.checkpoints_dir / "last.pt")["state_dict"]
    for key, value in load_checkpoint(RunDir(two).checkpoint_path(CheckpointKind.LAST))["state_dict"].items():
        assert torch.allclose(value, expected[key], atol=1e-5), key


def test_a_torchrun_job_of_one_process_trains_through_ddp_on_its_backend(tiny, tmp_path) -> None:
    runs = tmp_path / "one"
    runs.mkdir()
    config = tiny("data.loader.shuffle=false", "train.epochs=1", "data.batch_size=12", "train.accumulate=2")
    torch.multiprocessing.spawn(count_reductions, (free_port(), config.to_plain(), runs, 1), nprocs=1)
    assert json.loads((runs / "rank0.json").read_text()) == {"reductions": 5, "steps": 5}
    [run] = (RunDir(path) for path in runs.iterdir() if path.is_dir())
    status = run.read_status()
    assert (status["world_size"], status["backend"]) == (1, "gloo")


def test_only_torchrun_makes_a_single_process_join_a_process_group(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.delenv(distributed.TORCHRUN_MARK, raising=False)
    assert not distributed.World.from_environment().distributed
    monkeypatch.setenv(distributed.TORCHRUN_MARK, "job")
    assert distributed.World.from_environment().distributed


def test_collectives_hand_nccl_cuda_tensors_and_gloo_cpu_ones_wherever_the_values_are(monkeypatch) -> None:
    """nccl refuses a CPU tensor ("No backend type associated with device type cpu"): the training loss's mean,
    summed from CPU floats, once failed every torchrun job on a GPU. With no GPU here, the meta device (which no
    value starts on) stands in for nccl's."""
    reduced: list[torch.device] = []
    monkeypatch.setattr(distributed.dist, "all_reduce", lambda tensor, **_: reduced.append(tensor.device))
    monkeypatch.setattr(distributed.dist, "broadcast", lambda tensor, **_: reduced.append(tensor.device))
    gloo = distributed.World(0, 2, 0, backend="gloo", launched=True)
    nccl = distributed.World(0, 2, 0, backend="nccl", launched=True)
    monkeypatch.setattr(distributed.torch.cuda, "current_device", lambda: 0)
    assert distributed.collective_device(nccl) == torch.device("cuda", 0)
    assert distributed.collective_device(gloo) == torch.device("cpu")

    distributed.any_across(gloo, True)
    distributed.from_main(gloo, [1.0, 2.0])
    monkeypatch.setattr(distributed, "collective_device", lambda world: torch.device(
        "meta" if world.backend == "nccl" else "cpu"))
    distributed.sum_across(nccl, torch.tensor(1.0), torch.tensor(2, dtype=torch.long))
    assert reduced == [torch.device("cpu"), torch.device("cpu"), torch.device("meta")]
