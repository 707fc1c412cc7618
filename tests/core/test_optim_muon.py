"""The muon entry: torch's Muon on conv and linear weights (conv filters as 2-D views), another optimizer on the rest."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from core.model.checkpoints import load_checkpoint
from core.recipe.optimizers import OPTIMIZERS
from core.runs.recorder import create_run
from core.train.engine import fit
from core.train.events import EpochEnded, Event
from core.train.resume import load_resume


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3))


def build(model: nn.Module, **keys) -> torch.optim.Optimizer:
    return OPTIMIZERS["muon"].build(model, OPTIMIZERS.model("muon")(name="muon", **keys))


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, channels_last: bool = False) -> list[float]:
    generator = torch.Generator().manual_seed(1)
    images, labels = torch.randn(16, 3, 6, 6, generator=generator), torch.randint(0, 3, (16,), generator=generator)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("others", ["adamw", "sgd"])
def test_weight_matrices_go_to_muon_and_the_rest_to_the_named_optimizer(others: str) -> None:
    model = small_model()
    optimizer = build(model, others=others, others_lr=0.003)
    muon, rest = optimizer.param_groups[0], optimizer.param_groups[1:]
    assert [p.shape for p in muon["params"]] == [model[0].weight.shape, model[4].weight.shape]
    assert muon["lr"] == 0.02 and all(group["lr"] == 0.003 for group in rest)
    assert type(optimizer.inner[1]).__name__ == {"adamw": "AdamW", "sgd": "SGD"}[others]
    assert sum(len(group["params"]) for group in rest) == 4  # the biases and batch norm's weight
    losses = train(model, optimizer, 30)
    assert losses[-1] < losses[0] / 4


def test_normalize_rescales_conv_filters_to_root_out_channels_before_each_step_and_leaves_linears() -> None:
    """airbench's Muon: a conv that a norm layer follows ignores its filters' scale, so they are held at √out."""
    model = small_model()
    with torch.no_grad():
        model[0].weight.mul_(50)
    linear_norm = model[4].weight.norm().item()
    optimizer = build(model, lr=1e-6, normalize=True)
    train(model, optimizer, 1)
    assert model[0].weight.norm().item() == pytest.approx(6 ** 0.5, rel=1e-4)  # out_channels 6
    assert model[4].weight.norm().item() == pytest.approx(linear_norm, rel=1e-4)
    grown = small_model()
    with torch.no_grad():
        grown[0].weight.mul_(50)
    scaled_norm = grown[0].weight.norm().item()
    train(grown, build(grown, lr=1e-6), 1)
    assert grown[0].weight.norm().item() == pytest.approx(scaled_norm, rel=1e-4) != 6 ** 0.5  # without: as it was


def test_final_layer_others_leaves_the_classifier_to_others_at_its_own_lr() -> None:
    model = small_model()
    optimizer = build(model, others="sgd", others_lr=50, final_layer="others", final_layer_lr=0.02)
    muon, rest, final = optimizer.param_groups
    assert [p.shape for p in muon["params"]] == [model[0].weight.shape]
    assert (final["params"], final["lr"], rest["lr"]) == ([model[4].weight], 0.02, 50)
    assert len(rest["params"]) == 4 and all(p is not model[4].weight for p in rest["params"])
    losses = train(model, optimizer, 30)
    assert losses[-1] < losses[0]
    assert build(small_model(), final_layer="others").param_groups[2]["lr"] == 0.001  # others_lr


def test_final_layer_weight_decay_is_the_classifiers_own_and_decays_it() -> None:
    """airbench decays its classifier as much per step as the biases; at its small lr the rest's weight_decay would
    decay it by next to nothing."""
    keys = {"weight_decay": 1e-4, "others": "sgd", "others_lr": 50, "final_layer": "others", "final_layer_lr": 0.02}
    decayed, plain = small_model(), small_model()
    optimizer = build(decayed, **keys, final_layer_weight_decay=0.5)
    rest, final = optimizer.inner[1].param_groups
    assert (rest["weight_decay"], final["weight_decay"], final["lr"]) == (1e-4, 0.5, 0.02)
    train(decayed, optimizer, 10)
    train(plain, build(plain, **keys), 10)
    assert decayed[4].weight.norm() < 0.95 * plain[4].weight.norm()


@pytest.mark.parametrize(("keys", "message"), [
    ({"final_layer_lr": 0.1}, "set final_layer: others"), ({"final_layer_weight_decay": 0.1}, "set final_layer: others"),
    ({"others_momentum": 0.9}, "applies to others: sgd")])
def test_keys_that_would_do_nothing_are_refused(keys: dict, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        OPTIMIZERS.model("muon")(name="muon", **keys)


def test_others_momentum_sets_the_rest_apart_from_muons() -> None:
    optimizer = build(small_model(), momentum=0.6, others="sgd", others_lr=50, others_momentum=0.85)
    muon, sgd = optimizer.inner
    assert muon.param_groups[0]["momentum"] == 0.6
    assert (sgd.param_groups[0]["momentum"], sgd.param_groups[0]["lr"]) == (0.85, 50)
    assert build(small_model(), momentum=0.6, others="sgd").inner[1].param_groups[0]["momentum"] == 0.6


def test_channels_last_filters_take_the_same_step() -> None:
    """One step: after it the two layouts' forwards round differently, which bf16 Newton-Schulz amplifies."""
    plain = small_model()
    channels_last = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    assert not channels_last[0].weight.is_contiguous()
    start = plain[0].weight.detach().clone()
    train(plain, build(plain), 1)
    train(channels_last, build(channels_last), 1, channels_last=True)
    assert not torch.allclose(plain[0].weight, start)
    for index in (0, 4):  # Muon's matrices
        assert torch.allclose(plain[index].weight, channels_last[index].weight, atol=1e-6)


def test_a_run_with_muon_learns_and_resumes_exactly(tiny, tmp_path: Path) -> None:
    config = tiny("train.epochs=2", "train.deterministic=true", "train.optimizer={name: muon, lr: 0.02}",
                  "train.schedule={name: one_cycle}")
    whole = create_run(tmp_path / "whole", config.name, config)
    events: list[Event] = []
    fit(config, whole, emit=events.append, should_stop=lambda: False)
    losses = [event.train_loss for event in events if isinstance(event, EpochEnded)]
    assert losses[1] < losses[0]

    split = create_run(tmp_path / "split", config.name, config)
    calls = iter(range(1, 10_000))
    fit(config, split, emit=lambda event: None, should_stop=lambda: next(calls) >= 7)
    resumed, checkpoint = load_resume(split.path)
    fit(resumed, split, emit=lambda event: None, should_stop=lambda: False, resume=checkpoint)
    expected = load_checkpoint(whole.checkpoints_dir / "last.pt")["state_dict"]
    got = load_checkpoint(split.checkpoints_dir / "last.pt")["state_dict"]
    assert all(torch.equal(value, expected[key]) for key, value in got.items())
