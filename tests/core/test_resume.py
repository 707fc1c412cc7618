"""Resuming a run from last.pt: exactly, from an epoch boundary or mid-epoch, and only when it fits."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from core.model.checkpoints import load_checkpoint
from core.errors import ConfigError
from core.train.events import Event, Extension
from core.train.resume import check_resumable, load_resume
from core.runs.recorder import RunRecorder, create_run
from core.runs.rundir import METRICS_COLUMNS, RunDir
from core.train.describe import describe
from core.train.engine import fit

RECIPE = ["train.epochs=3", "train.deterministic=true", "train.optimizer={name: sgd, lr: 0.05, momentum: 0.9}",
          "train.schedule={name: cosine, warmup_epochs: 0.5}", "data.augment={horizontal_flip: true, random_crop_padding: 2}",
          "model.layers=[{conv2d: {out_channels: 8, kernel_size: 3, padding: 1}}, relu, {maxpool2d: {kernel_size: 2}}, "
          "flatten, {dropout: {p: 0.3}}, {linear: {out_features: auto}}]"]


def run_until(config, runs: Path, stop) -> tuple[RunDir, list[Event]]:
    events: list[Event] = []
    run = create_run(runs, config.name, config)
    fit(config, run, emit=events.append, should_stop=lambda: stop(events))
    return run, events


def resume(run: RunDir, *overrides: str, extension: Extension = Extension.FINAL_LR, stop=lambda events: False
           ) -> list[Event]:
    config, checkpoint = load_resume(run.path, list(overrides))
    events: list[Event] = []
    fit(config, run, emit=events.append, should_stop=lambda: stop(events), resume=checkpoint, extension=extension)
    return [event for event in events if event.type_name() != "data_progress"]


def weights(run: RunDir) -> dict[str, torch.Tensor]:
    return load_checkpoint(run.checkpoints_dir / "last.pt")["state_dict"]


def metric_rows(run: RunDir) -> list[dict[str, str]]:
    with run.metrics_path.open() as handle:
        return list(csv.DictReader(handle))


def after_epoch(epoch: int):
    """should_stop that says yes at the check right after epoch `epoch` saved last.pt."""
    return lambda events: bool(events) and events[-1].type_name() == "checkpoint_saved" and events[-1].epoch == epoch


def after_calls(count: int):
    calls = iter(range(1, 10_000))
    return lambda events: next(calls) >= count


@pytest.fixture
def uninterrupted(tiny, tmp_path: Path) -> RunDir:
    run, _ = run_until(tiny(*RECIPE), tmp_path / "whole", lambda events: False)
    return run


def test_resume_at_an_epoch_boundary_gives_the_same_weights(tiny, tmp_path: Path, uninterrupted: RunDir) -> None:
    run, events = run_until(tiny(*RECIPE), tmp_path / "split", after_epoch(2))
    assert events[-1].status == "stopped" and events[-1].epochs_done == 2
    resumed = resume(run)
    assert [e.type_name() for e in resumed[:2]] == ["run_started", "run_resumed"]
    assert resumed[1].epoch == 2 and resumed[1].batch == 0
    expected = weights(uninterrupted)
    assert all(torch.equal(value, expected[key]) for key, value in weights(run).items())
    assert metric_rows(run) == [dict(row, seconds=r["seconds"], samples_per_second=r["samples_per_second"],
                                     data_wait=r["data_wait"])
                                for row, r in zip(metric_rows(uninterrupted), metric_rows(run))]
    status = run.read_status()
    assert status["state"] == "finished" and status["epochs_done"] == 3 and status["best_epoch"] is not None


def test_resume_mid_epoch_continues_from_the_saved_batch(tiny, tmp_path: Path, uninterrupted: RunDir) -> None:
    run, events = run_until(tiny(*RECIPE), tmp_path / "split", after_calls(7))  # 4 batches + epoch end, then 2
    checkpoint = load_checkpoint(run.checkpoints_dir / "last.pt")
    assert checkpoint["position"]["epoch"] == 1 and checkpoint["position"]["batch"] == 2
    resumed = resume(run)
    assert resumed[1].type_name() == "run_resumed" and (resumed[1].epoch, resumed[1].batch) == (1, 2)
    expected = weights(uninterrupted)
    assert all(torch.equal(value, expected[key]) for key, value in weights(run).items())
    assert [row["epoch"] for row in metric_rows(run)] == ["1", "2", "3"]


def test_alternate_flips_and_tta_resume_mid_epoch_to_the_same_weights(tiny, tmp_path: Path) -> None:
    recipe = [*RECIPE, "data.augment.horizontal_flip=alternate", "train.tta=flip_shift"]
    whole, _ = run_until(tiny(*recipe), tmp_path / "whole", lambda events: False)
    run, _ = run_until(tiny(*recipe), tmp_path / "split", after_calls(7))
    resume(run)
    expected = weights(whole)
    assert all(torch.equal(value, expected[key]) for key, value in weights(run).items())
    assert [row["val_accuracy"] for row in metric_rows(run)] == [row["val_accuracy"] for row in metric_rows(whole)]


def test_a_run_saved_before_a_key_was_added_resumes(tiny, tmp_path: Path) -> None:
    config = tiny(*RECIPE)
    saved = config.to_plain()
    del saved["train"]["tta"]  # written before train.tta existed: it ran as its default
    check_resumable(saved, config)
    with pytest.raises(ConfigError, match=r"train\.optimizer\.lr: differs from the checkpoint"):
        check_resumable(saved, tiny(*RECIPE, "train.optimizer.lr=0.1"))


def test_resume_can_extend_a_run(tiny, tmp_path: Path) -> None:
    config = tiny("train.epochs=1", "train.schedule={name: one_cycle}")
    run, _ = run_until(config, tmp_path, lambda events: False)
    events = resume(run, "train.epochs=3")
    assert events[-1].status == "finished" and events[-1].epochs_done == 3 and events[-1].first_epoch == 2
    assert [e.epoch for e in events if e.type_name() == "epoch_ended"] == [2, 3]


def epoch_lrs(events: list[Event]) -> list[float]:
    return [event.lr for event in events if event.type_name() == "epoch_ended"]


def test_extending_a_scheduled_run_goes_on_at_its_final_lr_unless_rescheduled(tiny, tmp_path: Path) -> None:
    config = tiny("train.epochs=2", "train.schedule={name: cosine}", "train.optimizer={name: sgd, lr: 0.1}")
    first, first_events = run_until(config, tmp_path / "a", lambda events: False)
    final_lr = epoch_lrs(first_events)[-1]  # the lr of the last step
    assert 0 < final_lr < 0.01

    held = resume(first, "train.epochs=4")
    assert epoch_lrs(held) == pytest.approx([final_lr, final_lr])  # no jump back up
    resumed = held[1]
    assert (resumed.extension, resumed.schedule_epochs) == (Extension.FINAL_LR, 2)
    assert "past the schedule's 2 epochs at its final lr" in describe(resumed)

    second, _ = run_until(config, tmp_path / "b", lambda events: False)
    rescheduled = resume(second, "train.epochs=4", extension=Extension.RESCHEDULE)
    assert epoch_lrs(rescheduled)[0] > 5 * final_lr  # cosine over 4 epochs: at its third, not near its end
    assert (rescheduled[1].extension, rescheduled[1].schedule_epochs) == (Extension.RESCHEDULE, 4)


def test_a_run_extended_at_its_final_lr_keeps_it_when_stopped_and_resumed_again(tiny, tmp_path: Path) -> None:
    config = tiny("train.epochs=1", "train.schedule={name: cosine}", "train.optimizer={name: sgd, lr: 0.1}")
    run, events = run_until(config, tmp_path, lambda events: False)
    final_lr = epoch_lrs(events)[-1]
    stopped = resume(run, "train.epochs=3", stop=lambda events: any(e.type_name() == "epoch_ended" for e in events))
    assert stopped[-1].status == "stopped" and epoch_lrs(stopped) == pytest.approx([final_lr])
    again = resume(run, "train.epochs=3")  # the schedule still spans the first epoch
    assert epoch_lrs(again) == pytest.approx([final_lr]) and again[1].schedule_epochs == 1


def test_a_config_that_cannot_continue_is_refused_naming_the_keys(tiny, tmp_path: Path) -> None:
    run, _ = run_until(tiny("train.epochs=1"), tmp_path, lambda events: False)
    with pytest.raises(ConfigError) as caught:
        load_resume(run.path, ["model.layers.0.conv2d.out_channels=4", "train.optimizer.lr=0.5"])
    paths = {issue.path for issue in caught.value.issues}
    assert paths == {("model", "layers", 0, "conv2d", "out_channels"), ("train", "optimizer", "lr")}
    assert "differs from the checkpoint" in str(caught.value)


def test_a_run_without_last_pt_says_so(tmp_path: Path, tiny) -> None:
    config = tiny()
    run = create_run(tmp_path, config.name, config)
    with pytest.raises(Exception, match="no such file; a run can be resumed once it has saved last.pt"):
        load_resume(run.path)


@pytest.mark.parametrize("garbage", ["not,a,number\n", "\x00\x00\n", '"' + "x" * 200_000 + '"\n', "\n\n"])
def test_garbage_in_metrics_csv_is_dropped_on_resume(tmp_path: Path, garbage: str) -> None:
    run = create_run(tmp_path / "runs", "garbage")
    row = ",".join(["1"] + ["0.5"] * (len(METRICS_COLUMNS) - 1))
    run.metrics_path.write_text(",".join(METRICS_COLUMNS) + "\n" + row + "\n" + garbage + row.replace("1", "2", 1) + "\n")
    RunRecorder(run, 3, resumed_at=1).close()
    assert run.metrics_path.read_text().splitlines() == [",".join(METRICS_COLUMNS), row]
