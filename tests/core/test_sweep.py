"""Sweeps in core: the sweep: block and its space, values applied to a config, pruning, a killed worker's trial."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from core.errors import ConfigError, WorkbenchError
from core.runs.liveness import process_identity
from core.runs.recorder import create_run
from core.runs.rundir import RunDir
from core.sweep.space import apply_values, load_raw, read_sweep
from core.sweep.study import (REASON, RUN_DIR, WORKER, StudyFolder, SweepError, describe_storage, make_storage,
                              open_study, reap_dead_trials)
from core.sweep.summary import importances, read_summary, summarize, write_summary
from core.sweep.trial import TrialRunner
from core.sweep.worker import VALUE_FAILURES_IN_A_ROW, Budget, work
from tests.core.conftest import TINY

SPACE = """\
sweep:
  metric: val_accuracy
  sampler: random
  pruner: none
  seed: 1
  space:
    train.optimizer.lr: {log_uniform: [1.0e-3, 0.1]}
    train.optimizer.name: {choice: [sgd, adamw]}
    data.batch_size: {choice: [16, 32]}
    train.loss.label_smoothing: {uniform: [0.0, 0.3]}
    model.layers.0.conv2d.out_channels: {int_uniform: [4, 8]}
"""


@pytest.fixture
def raw(shapes_root: Path) -> dict[str, Any]:
    # the tiny config with its optimizer as name + lr only, so both sgd and adamw take it
    text = TINY.format(data=shapes_root).replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 0.01}")
    return load_raw(text + SPACE)


def with_space(raw: dict[str, Any], space: dict[str, Any], **block: Any) -> dict[str, Any]:
    return {**raw, "sweep": {**block, "space": space}}


def problems(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        read_sweep(raw)
    return str(caught.value)


def test_every_distribution_samples_within_its_range(raw: dict[str, Any]) -> None:
    spec = read_sweep(raw)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = spec.sample(study.ask())
        assert 1e-3 <= values["train.optimizer.lr"] <= 0.1
        assert values["train.optimizer.name"] in ("sgd", "adamw")
        assert values["data.batch_size"] in (16, 32)
        assert 0.0 <= values["train.loss.label_smoothing"] <= 0.3
        assert values["model.layers.0.conv2d.out_channels"] in range(4, 9)
    assert spec.direction == "maximize"  # val_accuracy's natural direction


def test_sampled_values_are_applied_to_the_config_by_dotted_key(raw: dict[str, Any]) -> None:
    config = apply_values(raw, {"train.optimizer.name": "adamw", "train.optimizer.lr": 0.02,
                                "model.layers.0.conv2d.out_channels": 5, "data.batch_size": 16})
    assert (config.train.optimizer.name, config.train.optimizer.lr) == ("adamw", 0.02)
    assert config.model.layers[0]["conv2d"]["out_channels"] == 5
    assert config.data.batch_size == 16 and config.sweep is None  # a trial's config searches nothing
    assert raw["train"]["optimizer"] == {"name": "sgd", "lr": 0.01}  # the config itself is left as it was


@pytest.mark.parametrize(("key", "nearest"), [("train.optimizer.lrr", "lr"), ("train.optimiser.lr", "optimizer"),
                                              ("data.batchsize", "batch_size")])
def test_a_bad_key_names_the_key_and_the_nearest_valid_one(raw: dict[str, Any], key: str, nearest: str) -> None:
    message = problems(with_space(raw, {key: {"uniform": [0.1, 0.2]}}))
    assert f"sweep.space.{key}" in message and f"did you mean '{nearest}'?" in message


@pytest.mark.parametrize(("dimension", "expected"), [
    ({"uniform": [0.3, 0.1]}, "must go from low to high"),
    ({"log_uniform": [0.0, 0.1]}, "positive low end"),
    ({"int_uniform": [4, 4]}, "must go from low to high"),
    ({"choice": []}, "at least 1 item"),
    ({"choice": [16, 16]}, "twice"),
    ({"uniform": [0.1, 0.2], "choice": [1]}, "exactly one of"),
    ({"normal": [0.1, 0.2]}, "unknown key 'normal'"),
])
def test_bad_ranges_are_refused_at_the_key(raw: dict[str, Any], dimension: dict, expected: str) -> None:
    message = problems(with_space(raw, {"train.optimizer.lr": dimension}))
    assert "sweep.space.train.optimizer.lr" in message and expected in message


def test_every_sampled_extreme_is_checked_against_the_schema(raw: dict[str, Any]) -> None:
    message = problems(with_space(raw, {"train.optimizer.lr": {"uniform": [-1.0, 0.1]},
                                        "train.optimizer.name": {"choice": ["sgd", "adamm"]}}))
    assert "greater than 0" in message and "unknown optimizer 'adamm'" in message and "did you mean 'adam'?" in message


def test_the_block_itself_is_checked(raw: dict[str, Any]) -> None:
    assert "did you mean 'sampler'?" in problems(with_space(raw, {"seed": {"choice": [1]}}, sampeler="tpe"))
    assert "no grid" in problems(with_space(raw, {"train.optimizer.lr": {"uniform": [0.1, 0.2]}}, sampler="grid"))
    assert "no sweep: block" in problems({k: v for k, v in raw.items() if k != "sweep"})


def test_a_pruned_trial_stops_like_a_user_stop_and_its_run_says_pruned(raw: dict[str, Any], tmp_path: Path) -> None:
    raw["train"]["epochs"] = 4
    spec = read_sweep(raw)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.5))
    runner = TrialRunner(raw, spec, tmp_path / "runs", should_stop=lambda: False)
    study.optimize(runner, n_trials=1)
    [trial] = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED and list(trial.intermediate_values) == [1]
    run = RunDir(Path(trial.user_attrs[RUN_DIR]))
    status = run.read_status()
    assert status["state"] == "pruned" and status["epochs_done"] == 1 and "after epoch 1" in status["reason"]
    assert run.checkpoint_path("last").is_file()  # kept, as for a stop: a resume continues it
    sweep = json.loads(run.sweep_path.read_text())
    assert sweep["trial"] == 0 and sweep["params"] == trial.params


def test_a_study_continues_after_a_killed_worker(raw: dict[str, Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    raw["train"]["epochs"] = 1
    spec = read_sweep(raw)
    folder = StudyFolder.under(tmp_path / "runs", "killed")
    study = open_study(folder, spec, epochs=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    orphan = study.ask()  # as a worker killed mid-trial leaves it: running, its run directory saying running
    run = create_run(tmp_path / "runs", "orphan")
    run.status_path.write_text(json.dumps({"state": "running", **process_identity(int(dead.stdout))}))
    orphan.set_user_attr(WORKER, {**process_identity(), "pid": int(dead.stdout), "pid_start": 1})
    orphan.set_user_attr(RUN_DIR, str(run.path))

    again = open_study(folder, spec, epochs=1)  # the command run again
    runner = TrialRunner(raw, spec, tmp_path / "runs", should_stop=lambda: False)
    work(again, runner, Budget(trials=2, deadline=None), lambda: write_summary(folder, summarize(again, spec.metric)))

    states = [trial.state.name for trial in again.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]  # the killed trial is not counted as done
    assert "ended without finishing it" in again.trials[0].user_attrs[REASON]
    status = run.read_status()
    assert status["state"] == "failed" and "ended without finishing it" in status["error"]
    summary = read_summary(folder)
    assert summary.finished == 2 and summary.best is not None
    assert [row.state for row in summary.trials] == ["failed", "finished", "finished"]
    assert reap_dead_trials(again) == []
    unnamed = again.ask()  # a worker killed between asking and naming itself: failed once it is a minute old
    assert reap_dead_trials(again) == []
    monkeypatch.setattr("core.sweep.study.UNCLAIMED_SECONDS", 0)
    assert reap_dead_trials(again) == [unnamed.number]


def test_importances_and_the_best_so_far_curve_come_from_the_summary(raw: dict[str, Any], tmp_path: Path) -> None:
    spec = read_sweep(raw)
    folder = StudyFolder.under(tmp_path / "runs", "fake")
    study = open_study(folder, spec, epochs=1)
    for value in (0.2, 0.5, 0.4, 0.7):
        trial = study.ask()
        spec.sample(trial)
        study.tell(trial, value)
    write_summary(folder, summarize(study, spec.metric))
    summary = read_summary(folder)
    assert summary.best_so_far() == [(0, 0.2), (1, 0.5), (2, 0.5), (3, 0.7)]
    assert summary.best.number == 3 and summary.set_line(summary.best).startswith("--set train.optimizer.lr=")
    assert set(importances(summary, spec)) == set(spec.space)
    header, *rows = (folder.path / "trials.csv").read_text().splitlines()
    assert header.startswith("number,state,value,duration,run_dir,reason,") and len(rows) == 4


def test_storages_one_machine_or_a_database_and_never_a_password_written(tmp_path: Path) -> None:
    folder = StudyFolder.under(tmp_path / "runs", "names")
    assert describe_storage(None) == "journal file"
    assert describe_storage("postgresql://me:s3cret@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    with pytest.raises(SweepError, match="SQLite is not safe"):
        make_storage(folder, "sqlite:///study.db")
    with pytest.raises(SweepError, match="postgresql:// or mysql://"):
        make_storage(folder, "redis://localhost")
    with pytest.raises(SweepError, match="study name"):
        StudyFolder.under(tmp_path / "runs", "../escape")


def test_failing_trials_are_failed_and_three_in_a_row_end_the_worker_naming_why(raw: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    raw["data"] = {"source": "folder", "path": str(tmp_path / "missing"), "image_size": [16, 16]}
    spec = read_sweep(raw)
    folder = StudyFolder.under(tmp_path / "runs", "failing")
    study = open_study(folder, spec, epochs=1)
    runner = TrialRunner(raw, spec, tmp_path / "runs", should_stop=lambda: False)
    with pytest.raises(WorkbenchError, match="3 trials in a row failed; the last: .*missing"):
        work(study, runner, Budget(trials=5, deadline=None))
    assert [trial.state.name for trial in study.trials] == ["FAIL"] * 3
    assert all("missing" in trial.user_attrs[REASON] for trial in study.trials)


def test_trials_that_diverge_are_a_verdict_on_their_values_and_the_worker_goes_on(raw: dict[str, Any], tmp_path: Path,
                                                                                   monkeypatch) -> None:
    from core.train import engine
    from core.train.divergence import NonFiniteLoss

    def diverging(*args: Any, **kwargs: Any) -> None:
        raise NonFiniteLoss("the loss became NaN or infinite at epoch 1, batch 2")

    monkeypatch.setattr(engine, "fit", diverging)
    spec = read_sweep(raw)
    study = open_study(StudyFolder.under(tmp_path / "runs", "diverging"), spec, epochs=1)
    runner = TrialRunner(raw, spec, tmp_path / "runs", should_stop=lambda: False)
    with pytest.raises(WorkbenchError, match=f"{VALUE_FAILURES_IN_A_ROW} trials in a row failed; the last: .*NaN"):
        work(study, runner, Budget(trials=20, deadline=None))
    assert [trial.state.name for trial in study.trials] == ["FAIL"] * VALUE_FAILURES_IN_A_ROW  # not 3: they went on

