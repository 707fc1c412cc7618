"""The engine end to end on tiny generated data: events, run directory, checkpoints, stop, failure."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from core.model.checkpoints import load_checkpoint
from core.config import load_config
from core.data.loading import load_data
from core.errors import DataError
from core.train.events import Event
from core.use.evaluation import evaluate_model
from core.use.inference import Classifier, load_model
from core.runs.recorder import create_run
from core.train.engine import fit


def test_events_come_in_order(tiny, train, tmp_path: Path) -> None:
    _, events = train(tiny(), tmp_path)
    kinds = [e.type_name() for e in events if e.type_name() != "batch_ended"]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("epoch_ended") == 2
    assert kinds[kinds.index("epoch_ended") + 1] == "checkpoint_saved"
    batch_events = [e for e in events if e.type_name() == "batch_ended"]
    assert batch_events and all(e.batches == 4 for e in batch_events)
    assert batch_events[-1].batch == 4 and batch_events[-1].epoch == 2
    saved = [(e.kind, e.epoch) for e in events if e.type_name() == "checkpoint_saved"]
    assert saved[:2] == [("best", 1), ("last", 1)] and saved[-1] == ("last", 2)  # last.pt knows the best


def test_run_directory_is_complete(tiny, train, tmp_path: Path) -> None:
    run, events = train(tiny(), tmp_path)
    assert load_config(run.config_path) == tiny()
    assert [e["type"] for e in run.read_events()] == [e.type_name() for e in events]
    with run.metrics_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_second"} <= set(rows[0])
    status = run.read_status()
    assert status["state"] == "finished" and status["epochs_done"] == 2 and status["ended"]
    assert status["best_epoch"] in (1, 2) and (status["world_size"], status["backend"]) == (1, None)
    assert "epoch 2/2" in run.log_path.read_text()
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == ["best.pt", "last.pt"]


def test_tensorboard_has_losses_accuracy_and_samples(tiny, train, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = train(tiny(), tmp_path)
    accumulator = EventAccumulator(str(run.tensorboard_dir))
    accumulator.Reload()
    tags = accumulator.Tags()
    assert {"train/loss", "val/loss", "val/accuracy"} <= set(tags["scalars"])
    assert [s.step for s in accumulator.Scalars("val/accuracy")] == [1, 2]
    assert "samples" in tags["images"]


def test_best_checkpoint_rebuilds_and_reproduces_accuracy(tiny, train, tmp_path: Path) -> None:
    config = tiny()
    run, _ = train(config, tmp_path)
    checkpoint = load_checkpoint(run.checkpoints_dir / "best.pt")
    assert {"model", "state_dict", "classes", "preprocess", "config", "epoch", "metrics"} <= set(checkpoint)
    assert checkpoint["classes"] == load_data(config.data, config.seed).classes
    classifier = Classifier(checkpoint)
    val = load_data(config.data, config.seed).val
    accuracy = (classifier.logits(val.images).argmax(1) == val.labels).float().mean().item()
    assert accuracy == pytest.approx(checkpoint["metrics"]["val_accuracy"], abs=1e-6)


def test_same_seed_same_metrics(tiny, train, tmp_path: Path) -> None:
    def metrics(folder: str) -> list[tuple[float, float]]:
        _, events = train(tiny(), tmp_path / folder)
        return [(e.train_loss, e.val_accuracy) for e in events if e.type_name() == "epoch_ended"]

    assert metrics("a") == metrics("b")


def test_stop_request_saves_last_and_reports_stopped(tiny, train, tmp_path: Path) -> None:
    calls = iter(range(10_000))
    run, events = train(tiny(), tmp_path, should_stop=lambda: next(calls) >= 2)
    assert events[-1].type_name() == "run_finished" and events[-1].status == "stopped"
    assert run.read_status()["state"] == "stopped"
    checkpoint = load_checkpoint(run.checkpoints_dir / "last.pt")
    assert checkpoint["epoch"] == 0 and "optimizer" in checkpoint


def test_bad_data_fails_the_run_with_a_record(tiny, tmp_path: Path) -> None:
    config = tiny("data.source=folder", f"data.path={tmp_path / 'missing'}")
    run = create_run(tmp_path / "runs", config.name, config)
    events: list[Event] = []
    with pytest.raises(DataError, match="missing"):
        fit(config, run, emit=events.append, should_stop=lambda: False)
    assert events[-1].type_name() == "run_failed" and events[-1].kind == "input"
    assert run.read_status()["state"] == "failed"
    assert "missing" in run.read_status()["error"]


def test_a_crash_is_recorded_with_its_traceback(tiny, tmp_path: Path, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(torch.optim.Adam, "step", explode)
    config = tiny()
    run = create_run(tmp_path, config.name, config)
    with pytest.raises(RuntimeError):
        fit(config, run, emit=lambda e: None, should_stop=lambda: False)
    assert run.read_status()["state"] == "failed"
    log = run.log_path.read_text()
    assert "Traceback" in log and "simulated" in log
    assert run.read_events()[-1]["type"] == "run_failed"


def validation_policies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tta policy of each validation the engine runs from now on."""
    import core.train.engine

    policies: list[str] = []
    evaluate = core.train.engine.evaluate

    def recording(*args, tta: str, **kwargs):
        policies.append(tta)
        return evaluate(*args, tta=tta, **kwargs)

    monkeypatch.setattr(core.train.engine, "evaluate", recording)
    return policies


def test_final_tta_validates_only_the_last_epoch_with_its_views(tiny, train, tmp_path: Path, monkeypatch) -> None:
    policies = validation_policies(monkeypatch)
    run, _ = train(tiny("train.epochs=3", "train.tta=flip", "train.final_tta=flip_shift"), tmp_path)
    assert policies == ["flip", "flip", "flip_shift"]
    last = load_model(run.checkpoints_dir / "last.pt")
    assert last.metrics["val_accuracy"] == pytest.approx(evaluate_model(last, tta="flip_shift").accuracy)


def test_whole_images_from_trains_the_runs_last_share_on_whole_images(tiny, train, tmp_path: Path,
                                                                     monkeypatch) -> None:
    from core.data import augment

    sizes: list[int] = []
    crop = augment.random_crop
    monkeypatch.setattr(augment, "random_crop", lambda *args: sizes.append(crop(*args).shape[-1]) or crop(*args))
    config = tiny("data.augment.random_crop_size=12", "data.augment.whole_images_from=0.5",
                  "model.layers=[{conv2d: {out_channels: 8, kernel_size: 3}}, relu, "
                  "{adaptivemaxpool2d: {output_size: 1}}, flatten, {linear: {out_features: auto}}]")
    train(config, tmp_path)
    assert sizes == [12] * 4 + [16] * 4  # 2 epochs of 4 steps: the second half sees the 16 x 16 images whole


def test_smaller_training_crops_need_a_model_that_takes_any_size(tiny, train, tmp_path: Path) -> None:
    from core.errors import ShapeError
    from core.prepare.preflight import check_config_model, config_classes

    flat = tiny("data.augment.random_crop_size=12")  # flatten + linear: sized for the 16 x 16 it validates on
    error = check_config_model(flat, len(config_classes(flat))).error
    assert error is not None and "data.augment.random_crop_size [12, 12]: the model cannot train on these crops" in str(
        error) and "adaptivemaxpool2d" in str(error)
    with pytest.raises(ShapeError, match="random_crop_size"):
        train(flat, tmp_path)
    pooled = tiny("data.augment.random_crop_size=12", "model.layers=[{conv2d: {out_channels: 8, kernel_size: 3}}, "
                  "relu, {adaptivemaxpool2d: {output_size: 1}}, flatten, {linear: {out_features: auto}}]")
    assert check_config_model(pooled, len(config_classes(pooled))).error is None
    run, events = train(pooled, tmp_path)
    assert events[-1].type_name() == "run_finished" and run.read_status()["epochs"] == 2
