"""The optimizer, loss and schedule tables, and the engine features around them."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

import core.train.engine
from core.model.checkpoints import load_checkpoint
from core.config import TABLES
from core.errors import ConfigError
from core.prepare.preflight import check_config_model, config_classes, loss_warnings
from core.recipe.early_stopping import EarlyStopper
from core.recipe.losses import LOSSES, class_weight_tensor
from core.recipe.optimizers import OPTIMIZERS, param_groups
from core.recipe.schedules import SCHEDULES, Schedule, Steps

LOG_SOFTMAX_MODEL = ["model.layers=[{conv2d: {out_channels: 8, kernel_size: 3, padding: 1}}, relu, "
                     "{maxpool2d: {kernel_size: 2}}, flatten, {linear: {out_features: auto}}, logsoftmax]"]


@pytest.fixture
def initial_state(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """Filled with the model's weights as the engine builds them, before any step."""
    state: dict[str, torch.Tensor] = {}
    build_for = core.train.engine.build_for

    def recording(*args, **kwargs):
        model, spec = build_for(*args, **kwargs)
        state.update(copy.deepcopy(model.state_dict()))
        return model, spec

    monkeypatch.setattr(core.train.engine, "build_for", recording)
    return state


def trained_state(run) -> dict[str, torch.Tensor]:
    return load_checkpoint(run.checkpoints_dir / "last.pt")["state_dict"]


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[key], after[key]) for key in before)


@pytest.mark.parametrize("key,name", [(key, name) for key, table in TABLES.items() for name in table.names])
def test_every_entry_trains_one_epoch_and_changes_the_weights(key, name, tiny, train, initial_state, tmp_path):
    overrides = [f"train.{key}={{name: {name}}}", "train.epochs=1"]
    if name == "nll":
        overrides += LOG_SOFTMAX_MODEL
    run, events = train(tiny(*overrides), tmp_path)
    assert events[-1].type_name() == "run_finished"
    assert changed(initial_state, trained_state(run))


def test_each_table_lists_names_with_help_and_typed_parameters() -> None:
    for table in TABLES.values():
        assert table.default in table.names
        for entry in table:
            assert entry.help and table.model(entry.name)().name == entry.name
    assert OPTIMIZERS.names == ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "muon")
    assert LOSSES.names == ("cross_entropy", "nll", "l1", "mse")
    assert SCHEDULES.names == ("constant", "step", "multistep", "exponential", "linear", "cosine", "one_cycle")


def test_nll_without_logsoftmax_is_a_warning_in_check_and_at_the_run_start(tiny, train, tmp_path: Path) -> None:
    assert loss_warnings(tiny("train.loss=nll", *LOG_SOFTMAX_MODEL)) == [] == loss_warnings(tiny())
    config = tiny("train.loss=nll", "train.epochs=1")
    [warning] = loss_warnings(config)
    assert "add logsoftmax as the last layer" in warning
    assert warning in check_config_model(config, len(config_classes(config))).warnings
    run, events = train(config, tmp_path / "runs")
    assert warning in events[0].warnings and f"warning: {warning}" in run.log_path.read_text()


def test_optimizers_take_torch_parameter_names(tiny) -> None:
    config = tiny("train.optimizer={name: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.001}")
    optimizer = OPTIMIZERS["sgd"].build(nn.Linear(2, 2), config.train.optimizer)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.1, 0.9, True, 0.001)
    assert tiny("train.optimizer=adadelta").train.optimizer.lr == 1.0  # torch's own default for adadelta


def test_weight_decay_can_skip_biases_and_norm_layers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    decay, no_decay = param_groups(model, 0.05, decay_bias_and_norm=False)
    assert [p.shape for p in decay["params"]] == [model[0].weight.shape, model[3].weight.shape]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0
    assert len(param_groups(model, 0.05, decay_bias_and_norm=True)) == 1


def test_class_weights_auto_are_inverse_frequency() -> None:
    weights = class_weight_tensor("auto", [10, 30, 60], ["a", "b", "c"])
    assert weights.tolist() == pytest.approx([100 / 30, 100 / 90, 100 / 180])
    by_name = class_weight_tensor({"c": 2.0}, [1, 1, 1], ["a", "b", "c"])
    assert by_name.tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(ConfigError, match="no class named 'd'"):
        class_weight_tensor({"d": 2.0}, [1, 1, 1], ["a", "b", "c"])
    with pytest.raises(ConfigError, match="2 class weights for 3 classes"):
        class_weight_tensor([1.0, 2.0], [1, 1, 1], ["a", "b", "c"])


def test_one_hot_losses_match_torch() -> None:
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    one_hot = nn.functional.one_hot(labels, 4).float()
    raw = {"outputs": "raw"}
    l1 = LOSSES["l1"].build(LOSSES.model("l1").model_validate(raw), [1] * 4, list("abcd"))
    mse = LOSSES["mse"].build(LOSSES.model("mse")(), [1] * 4, list("abcd"))
    assert l1(logits, labels) == pytest.approx(nn.L1Loss()(logits, one_hot).item())
    assert mse(logits, labels) == pytest.approx(nn.MSELoss()(logits.softmax(1), one_hot).item())


def schedule_lrs(name: str, options: dict, steps: Steps, lr: float = 0.1) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    schedule = Schedule(optimizer, SCHEDULES.model(name).model_validate({"name": name, **options}), steps)
    lrs = []
    for _ in range(steps.total):
        lrs.append(schedule.lr)
        optimizer.step()
        schedule.step()
    return lrs


def torch_lrs(make, steps: Steps, per_epoch: bool, lr: float = 0.1) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    scheduler = make(optimizer)
    lrs = []
    for step in range(1, steps.total + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if not per_epoch or step % steps.per_epoch == 0:
            scheduler.step()
    return lrs


S = torch.optim.lr_scheduler
STEPS = Steps(per_epoch=7, total=7 * 12)


@pytest.mark.parametrize("name,options,make,per_epoch", [
    ("constant", {}, lambda o: S.ConstantLR(o, factor=1.0), True),
    ("step", {"step_size": 3, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=3, gamma=0.5), True),
    ("multistep", {"milestones": [2, 5, 9], "gamma": 0.3}, lambda o: S.MultiStepLR(o, [2, 5, 9], gamma=0.3), True),
    ("exponential", {"gamma": 0.8}, lambda o: S.ExponentialLR(o, gamma=0.8), True),
    ("linear", {"end_factor": 0.1}, lambda o: S.LinearLR(o, 1.0, 0.1, total_iters=STEPS.total), False),
    ("cosine", {"eta_min": 0.001}, lambda o: S.CosineAnnealingLR(o, T_max=STEPS.total, eta_min=0.001), False),
    ("one_cycle", {"pct_start": 0.3}, lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS.total, pct_start=0.3,
                                                             div_factor=25, final_div_factor=1e4), False),
])
def test_schedule_values_per_step_equal_torch(name, options, make, per_epoch) -> None:
    assert schedule_lrs(name, options, STEPS) == pytest.approx(torch_lrs(make, STEPS, per_epoch), rel=1e-6, abs=1e-12)


def test_warmup_rises_linearly_then_follows_the_schedule() -> None:
    lrs = schedule_lrs("cosine", {"warmup_epochs": 2, "warmup_start_factor": 0.1}, STEPS)
    plain = schedule_lrs("cosine", {}, STEPS)
    warmup = 2 * STEPS.per_epoch
    assert lrs[0] == pytest.approx(0.1 * plain[0])
    assert all(a < b for a, b in zip(lrs[:warmup], lrs[1:warmup]))
    assert lrs[warmup:] == pytest.approx(plain[warmup:])


def test_lr_is_in_batch_events_metrics_and_tensorboard(tiny, train, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny("train.schedule={name: step, step_size: 1, gamma: 0.5}", "train.optimizer={name: sgd, lr: 0.2}")
    run, events = train(config, tmp_path)
    batch_lrs = {e.epoch: e.lr for e in events if e.type_name() == "batch_ended"}
    assert batch_lrs == {1: pytest.approx(0.2), 2: pytest.approx(0.1)}
    metrics_lrs = [row.split(",")[4] for row in run.metrics_path.read_text().splitlines()[1:]]
    assert [float(lr) for lr in metrics_lrs] == pytest.approx([0.2, 0.1])  # the lr each epoch trained with
    accumulator = EventAccumulator(str(run.tensorboard_dir))
    accumulator.Reload()
    assert {"train/lr", "epoch/lr", "val/accuracy"} <= set(accumulator.Tags()["scalars"])
    assert accumulator.Tags()["graph"]


def test_tensorboard_records_hparams_with_final_metrics(tiny, train, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    run, _ = train(tiny("train.loss={label_smoothing: 0.1}"), tmp_path)
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(run.tensorboard_dir))
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent("hparams")
    session = next(plugin_data_pb2.HParamsPluginData.FromString(data).session_start_info
                   for tags in content.values() for tag, data in tags.items() if tag == "_hparams_/session_start_info")
    assert session.hparams["optimizer.name"].string_value == "adam"
    assert session.hparams["loss.label_smoothing"].number_value == pytest.approx(0.1)
    scalars = {tag for run_name in multiplexer.Runs() for tag in multiplexer.Runs()[run_name]["scalars"]}
    assert {"hparam/best_val_accuracy", "hparam/final_val_loss"} <= scalars


class ScriptedOptions:
    metric, mode, patience, min_delta = "val_loss", "auto", 2, 0.01
    maximise = False


@pytest.mark.parametrize("values,stop_epoch", [
    ([1.0, 0.9, 0.8, 0.7, 0.6], None),     # always improving
    ([1.0, 0.9, 0.95, 0.91, 0.5], 4),      # no gain > 0.01 over 0.9 in epochs 3 and 4
    ([1.0, 0.995, 0.992, 0.5], 3),         # gains smaller than min_delta do not count
])
def test_early_stopping_stops_at_the_right_epoch(values, stop_epoch) -> None:
    stopper = EarlyStopper(ScriptedOptions())
    reasons = [stopper.update(epoch, {"val_loss": v}) for epoch, v in enumerate(values, start=1)]
    first = next((epoch for epoch, reason in enumerate(reasons, start=1) if reason), None)
    assert first == stop_epoch
    if stop_epoch:
        assert "val_loss did not improve" in reasons[stop_epoch - 1]


def test_early_stopping_ends_the_run_and_says_why(tiny, train, tmp_path: Path) -> None:
    config = tiny("train.epochs=6", "train.early_stopping={metric: train_loss, mode: max, patience: 1}")
    run, events = train(config, tmp_path)  # the loss falls, so "max" never improves after epoch 1
    finished = events[-1]
    assert finished.status == "finished" and finished.epochs_done == 2
    assert "early stopping: train_loss did not improve" in finished.reason
    assert run.read_status()["reason"] == finished.reason
    assert "early stopping" in run.log_path.read_text()


def test_gradient_clipping_bounds_the_norm(tiny, train, tmp_path: Path) -> None:
    norms: list[float] = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        train(tiny("train.grad_clip={norm: 0.05}", "train.epochs=1"), tmp_path)
    finally:
        handle.remove()
    assert norms and max(norms) <= 0.05 * (1 + 1e-4)


def test_accumulating_two_half_batches_equals_one_full_batch(tiny, train, tmp_path: Path) -> None:
    common = ["data.loader.shuffle=false", "train.optimizer={name: sgd, lr: 0.1}", "train.epochs=1"]
    full, _ = train(tiny(*common, "data.batch_size=40"), tmp_path / "full")
    halves, _ = train(tiny(*common, "data.batch_size=20", "train.accumulate=2"), tmp_path / "halves")
    for key, value in trained_state(full).items():
        assert torch.allclose(value, trained_state(halves)[key], atol=1e-5), key


def test_frozen_backbone_keeps_weights_and_batchnorm_statistics(tiny, train, initial_state, tmp_path) -> None:
    model = "model={torchvision: {name: resnet18, freeze_backbone: true}}"
    run, _ = train(tiny(model, "train.epochs=1", "data.image_size=[32, 32]", "data.resize=[32, 32]"), tmp_path)
    after = trained_state(run)
    backbone = [key for key in initial_state if not key.startswith("fc.")]
    assert any("running_mean" in key for key in backbone)
    assert all(torch.equal(initial_state[key], after[key]) for key in backbone)
    assert changed({k: initial_state[k] for k in ("fc.weight",)}, after)


def test_precision_is_recorded_and_falls_back_with_a_note(tiny, train, tmp_path: Path) -> None:
    run, events = train(tiny("train.precision=fp16", "train.epochs=1"), tmp_path)
    started = events[0]
    assert started.precision == "fp32" and "fp16 needs a GPU" in run.log_path.read_text()
    run, events = train(tiny("train.precision=bf16", "train.epochs=1"), tmp_path)
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert events[0].precision == "bf16" and math.isfinite(events[-1].best_val_accuracy)
    else:
        assert events[0].precision == "fp32" and "no fast bf16" in run.log_path.read_text()


def test_compile_is_skipped_on_cpu_and_recorded(tiny, train, tmp_path: Path) -> None:
    run, events = train(tiny("train.compile=true", "train.epochs=1"), tmp_path)
    assert events[0].compiled is False and "train.compile: skipped on cpu" in run.log_path.read_text()


def test_deterministic_mode_is_reproducible_and_restored(tiny, train, tmp_path: Path) -> None:
    config = tiny("train.deterministic=true", "train.epochs=1")
    first = load_checkpoint(train(config, tmp_path / "a")[0].checkpoints_dir / "last.pt")["state_dict"]
    second = load_checkpoint(train(config, tmp_path / "b")[0].checkpoints_dir / "last.pt")["state_dict"]
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_one_hot_losses_learn_the_demo(loss, shapes_root, tiny, train, tmp_path: Path) -> None:
    demo = Path(__file__).parents[2] / "configs" / "shapes.yaml"
    from core.config import load_config

    config = load_config(demo, [f"data.path={shapes_root.parent / 'demo'}", f"train.loss={loss}", "train.epochs=5",
                                "train.device=cpu"])
    _, events = train(config, tmp_path)
    assert events[-1].best_val_accuracy > 0.9


def test_docs_list_every_table_entry_as_generated() -> None:
    from core.recipe.reference import embed

    doc = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    assert embed(doc) == doc, "run: python -m core.recipe.reference --write docs/config.md"
    for table in TABLES.values():
        assert all(f"| `{name}` |" in doc for name in table.names)


def test_eval_flip_averages_each_image_with_its_mirror() -> None:
    from core.train.engine import evaluate

    class LeftHalf(nn.Module):  # a "model" whose two logits are the mean of the image's left and right halves
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x[..., :2].mean((1, 2, 3)), x[..., 2:].mean((1, 2, 3))], 1)

    images = torch.zeros(1, 1, 2, 4)
    images[..., :2] = 1.0  # bright on the left: class 0 unless mirrored
    loss = nn.CrossEntropyLoss()
    assert evaluate(LeftHalf(), [(images, torch.tensor([0]))], loss)[1] == 1.0
    flipped_loss, flipped_accuracy = evaluate(LeftHalf(), [(images, torch.tensor([0]))], loss, tta="flip")
    assert flipped_loss == pytest.approx(math.log(2))  # the two views cancel: equal logits
