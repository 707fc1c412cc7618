"""Lookahead around any optimizer: the slow weights by hand, and a resume mid-cycle that changes nothing."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from core.config import Lookahead as LookaheadConfig
from core.errors import ConfigError
from core.model.checkpoints import load_checkpoint
from core.recipe.optimizers import OPTIMIZERS
from core.runs.recorder import create_run
from core.train.engine import fit
from core.train.lookahead import Lookahead
from core.train.resume import load_resume

STEPS, ALPHA = 3, 0.3


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, lookahead: Lookahead | None, first: int,
                last: int) -> None:
    for step in range(first, last + 1):
        inputs = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
        model(inputs).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        if lookahead is not None:
            lookahead.after_step(step)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_after_steps_steps_the_weights_are_slow_plus_alpha_of_the_way_to_fast(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    plain = copy.deepcopy(model)  # the same optimizer without lookahead: the fast weights' path
    params = OPTIMIZERS.model(name)(name=name, lr=0.1)
    optimizer, plain_optimizer = OPTIMIZERS[name].build(model, params), OPTIMIZERS[name].build(plain, params)
    lookahead = Lookahead(optimizer, STEPS, ALPHA)
    slow = [p.detach().clone() for p in model.parameters()]

    train_steps(model, optimizer, lookahead, 1, STEPS - 1)
    train_steps(plain, plain_optimizer, None, 1, STEPS - 1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), plain.parameters()))  # no sync yet

    train_steps(model, optimizer, lookahead, STEPS, STEPS)
    train_steps(plain, plain_optimizer, None, STEPS, STEPS)
    for weights, start, fast in zip(model.parameters(), slow, plain.parameters()):
        expected = start + ALPHA * (fast - start)
        assert not torch.allclose(fast, start) and torch.allclose(weights, expected, atol=1e-7)


def test_the_config_key_is_off_by_default_and_checked(tiny) -> None:
    assert tiny().train.lookahead is None
    assert tiny("train.lookahead={}").train.lookahead == LookaheadConfig(steps=5, alpha=0.5)
    with pytest.raises(ConfigError, match="alpha"):
        tiny("train.lookahead={alpha: 0}")


RECIPE = ["train.epochs=2", "train.deterministic=true", "train.lookahead={steps: 4, alpha: 0.5}",
          "model.layers=[{conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}, relu, {maxpool2d: {kernel_size: 2}},"
          " flatten, {linear: {out_features: auto}}]"]


@pytest.mark.parametrize("optimizer", ["{name: sgd, lr: 0.05, momentum: 0.9}", "{name: adamw, lr: 0.003}"])
def test_a_resume_mid_cycle_gives_the_weights_of_an_uninterrupted_run(tiny, tmp_path: Path, optimizer: str) -> None:
    config = tiny(*RECIPE, f"train.optimizer={optimizer}")
    whole = create_run(tmp_path / "whole", config.name, config)
    fit(config, whole, emit=lambda event: None, should_stop=lambda: False)

    split = create_run(tmp_path / "split", config.name, config)
    calls = iter(range(1, 10_000))
    fit(config, split, emit=lambda event: None, should_stop=lambda: next(calls) >= 7)  # an epoch and 2 batches
    stopped = load_checkpoint(split.checkpoints_dir / "last.pt")
    assert stopped["step"] % 4 and stopped["lookahead"] is not None  # stopped between two syncs
    resumed, checkpoint = load_resume(split.path)
    fit(resumed, split, emit=lambda event: None, should_stop=lambda: False, resume=checkpoint)

    expected = load_checkpoint(whole.checkpoints_dir / "last.pt")
    got = load_checkpoint(split.checkpoints_dir / "last.pt")
    assert all(torch.equal(value, expected["state_dict"][key]) for key, value in got["state_dict"].items())
    assert all(torch.equal(a, b) for a, b in zip(got["lookahead"]["slow"], expected["lookahead"]["slow"]))
