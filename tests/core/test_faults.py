"""Faults during training: non-finite losses, a model that does not fit the classes, missing validation classes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import core.train.engine
from core.model.checkpoints import load_checkpoint
from core.train.divergence import NonFiniteLoss
from core.config import AUTO_BATCH_START
from core.errors import DataError
from core.train.memory import OutOfMemory, largest_fitting


@pytest.fixture
def poison_at(monkeypatch: pytest.MonkeyPatch):
    """poison_at(n): the model's output turns NaN from its n-th training forward on."""
    calls = {"count": 0, "from": None}
    build_for = core.train.engine.build_for

    def poisoned(*args, **kwargs):
        model, spec = build_for(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                calls["count"] += 1
                if calls["from"] is not None and calls["count"] >= calls["from"]:
                    return output * float("nan")
            return output

        model.register_forward_hook(hook)
        return model, spec

    monkeypatch.setattr(core.train.engine, "build_for", poisoned)
    return lambda n: calls.update({"from": n})


def test_a_nan_loss_stops_the_run_naming_epoch_and_batch(tiny, train, poison_at, tmp_path: Path) -> None:
    poison_at(6)  # 4 batches per epoch: epoch 2, batch 2
    with pytest.raises(NonFiniteLoss, match=r"epoch 2, batch 2 \(step 6\)") as caught:
        train(tiny("train.epochs=3"), tmp_path)
    assert "train.grad_clip" in str(caught.value)
    [run_dir] = tmp_path.iterdir()
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())
    status = (run_dir / "status.json").read_text()
    assert '"state": "failed"' in status and "NaN" in status


def test_skip_mode_logs_each_skipped_batch(tiny, train, monkeypatch, tmp_path: Path) -> None:
    original = core.train.engine.build_for
    bad_batches = {2, 3}

    def flaky(*args, **kwargs):
        model, spec = original(*args, **kwargs)
        forwards = {"n": 0}

        def hook(module, inputs, output):
            if not module.training:
                return output
            forwards["n"] += 1
            return output * float("nan") if forwards["n"] in bad_batches else output

        model.register_forward_hook(hook)
        return model, spec

    monkeypatch.setattr(core.train.engine, "build_for", flaky)
    run, events = train(tiny("train.on_nan=skip", "train.epochs=2"), tmp_path)
    assert events[-1].status == "finished" and events[-1].epochs_done == 2
    log = run.log_path.read_text()
    assert "skipped epoch 1 batch 2" in log and "skipped epoch 1 batch 3" in log
    weights = load_checkpoint(run.checkpoints_dir / "last.pt")["state_dict"]
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_a_model_with_the_wrong_number_of_outputs_fails_before_the_first_step(tiny, train, monkeypatch, tmp_path):
    # a user's module is only probed on the meta device; the engine checks the real outputs
    def three_outputs(*args, **kwargs):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3)), {"module": "x:Y"}

    monkeypatch.setattr(core.train.engine, "build_for", three_outputs)
    with pytest.raises(DataError, match=r"outputs of shape \[3\] per image but the data has 5 classes"):
        train(tiny(), tmp_path)


def test_a_class_without_validation_images_is_a_warning(tmp_path: Path, write_images, tiny, train) -> None:
    for name in ("cats", "dogs"):
        write_images(tmp_path / "data" / "train" / name, 6, size=(16, 16))
    write_images(tmp_path / "data" / "val" / "cats", 3, size=(16, 16))
    config = tiny("data.source=folder", f"data.path={tmp_path / 'data'}", "train.epochs=1")
    run, events = train(config, tmp_path / "runs")
    assert events[0].warnings == ["no validation images for class dogs: val_accuracy leaves it out"]
    assert "warning: no validation images for class dogs" in run.log_path.read_text()
    with pytest.raises(DataError, match="no validation images for class dogs"):
        train(tiny("data.source=folder", f"data.path={tmp_path / 'data'}", "data.on_error=fail"), tmp_path / "runs")


def test_out_of_memory_names_the_batch_size_and_the_fix(tiny, train, monkeypatch, tmp_path: Path) -> None:
    original = core.train.engine.build_for

    def hungry(*args, **kwargs):
        model, spec = original(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
            return output

        model.register_forward_hook(hook)
        return model, spec

    monkeypatch.setattr(core.train.engine, "build_for", hungry)
    with pytest.raises(OutOfMemory, match="out of memory on cpu at data.batch_size 32") as caught:
        train(tiny(), tmp_path)
    assert "data.batch_size: auto" in str(caught.value)
    [run_dir] = tmp_path.iterdir()
    assert '"state": "failed"' in (run_dir / "status.json").read_text()


def test_batch_size_auto_finds_the_largest_power_of_two_that_fits() -> None:
    assert largest_fitting(lambda size: size <= 300, limit=4096) == 256
    assert largest_fitting(lambda size: True, limit=100) == 64
    assert largest_fitting(lambda size: False, limit=100) == 0


def test_batch_size_auto_on_cpu_uses_the_default_and_says_so(tiny, train, tmp_path: Path) -> None:
    run, events = train(tiny("data.batch_size=auto", "train.epochs=1"), tmp_path)
    assert events[0].batch_size == AUTO_BATCH_START
    assert f"data.batch_size: auto uses {AUTO_BATCH_START} on cpu" in run.log_path.read_text()


def test_a_dying_loader_worker_ends_the_run_with_an_error(tiny, train, monkeypatch, tmp_path: Path) -> None:
    import os

    import core.data.batches as batches

    def die(*args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(batches, "sample_tensor", die)  # inherited by the forked worker
    config = tiny("data.cache='off'", "data.loader={num_workers: 1, persistent_workers: false}",
                  "data.normalize={mean: [0.5], std: [0.25]}", "train.epochs=1")
    with pytest.raises(DataError, match="a data-loading worker failed"):
        train(config, tmp_path)


def test_labels_outside_the_classes_are_caught_before_the_first_step() -> None:
    from core.data.batches import _check_labels

    _check_labels(torch.tensor([0, 1, 2]), torch.tensor([2, 0]), ["a", "b", "c"])
    with pytest.raises(DataError, match=r"validation labels range over 0\.\.3 but there are 3 classes"):
        _check_labels(torch.tensor([0, 1, 2]), torch.tensor([3, 0]), ["a", "b", "c"])


def test_a_last_training_batch_of_one_image_is_left_out_and_said(tiny, train, tmp_path: Path) -> None:
    # 120 training images in batches of 17: the eighth batch would be one image, which batchnorm1d refuses to train on
    config = tiny("data.batch_size=17", "train.epochs=1", "model.layers=[flatten, {linear: {out_features: 16}}, "
                  "batchnorm1d, relu, {linear: {out_features: auto}}]")
    run, events = train(config, tmp_path / "runs")
    assert events[0].batches_per_epoch == 7
    assert "each epoch leaves out its last 1 training image(s)" in events[0].warnings[0]
    assert run.read_status()["state"] == "finished"
