"""core.runs.history: run directories read back for the Runs and Classify screens."""
from __future__ import annotations

import json
import os
from pathlib import Path

from core.runs.history import list_checkpoints, list_runs, read_metrics
from core.runs.rundir import RunDir


def make_run(runs: Path, name: str, state: str, *, pid: int | None = None, metrics: list[float] = (),
             checkpoints: tuple[str, ...] = (), best: float | None = None) -> Path:
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    status = {"state": state, "pid": pid or 999_999_999, "started": f"2026-01-0{name[-1]}T10:00:00+00:00",
              "epochs": 5, "epochs_done": len(metrics), "best_val_accuracy": best, "error": None}
    (run / "status.json").write_text(json.dumps(status))
    if metrics:
        rows = [f"{i},0.5,0.4,{accuracy},0.01,1.0,100" for i, accuracy in enumerate(metrics, start=1)]
        (run / "metrics.csv").write_text(
            "epoch,train_loss,val_loss,val_accuracy,lr,seconds,samples_per_second\n" + "\n".join(rows) + "\n")
    for kind in checkpoints:
        (run / "checkpoints" / f"{kind}.pt").write_bytes(b"x")
    return run


def test_runs_are_listed_newest_first_with_their_states(tmp_path):
    make_run(tmp_path, "run-1", "finished", metrics=[0.5, 0.75], best=0.75)
    make_run(tmp_path, "run-2", "running", pid=os.getpid(), metrics=[0.25, 0.5])
    make_run(tmp_path, "run-3", "running")  # its process is gone
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("")

    runs = list_runs(tmp_path)

    assert [(r.name, r.state, r.epochs_done, r.best_val_accuracy) for r in runs] == [
        ("run-3", "ended unexpectedly", 0, None), ("run-2", "running", 2, 0.5), ("run-1", "finished", 2, 0.75)]
    assert list_runs(tmp_path / "missing") == []


def test_metrics_and_checkpoints(tmp_path):
    old = make_run(tmp_path, "run-1", "finished", metrics=[0.5], checkpoints=("best", "last"))
    new = make_run(tmp_path, "run-2", "stopped", checkpoints=("last",))
    os.utime(old / "checkpoints" / "best.pt", (1, 1))
    os.utime(old / "checkpoints" / "last.pt", (2, 2))

    assert read_metrics(old) == [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.5,
                                  "lr": 0.01, "seconds": 1.0, "samples_per_second": 100}]
    assert read_metrics(new) == []
    assert RunDir(old).checkpoints() == [old / "checkpoints" / "best.pt", old / "checkpoints" / "last.pt"]
    assert list_checkpoints(tmp_path) == [new / "checkpoints" / "last.pt", old / "checkpoints" / "last.pt",
                                          old / "checkpoints" / "best.pt"]


def test_a_run_is_deleted_only_inside_the_runs_folder_and_never_while_running(tmp_path):
    import pytest

    from core.runs.history import HistoryError, delete_run

    runs = tmp_path / "runs"
    done = make_run(runs, "run-1", "finished", metrics=[0.5], checkpoints=("best",))
    going = make_run(runs, "run-2", "running", pid=os.getpid())
    (going / "events.jsonl").touch()
    outside = make_run(tmp_path / "elsewhere", "run-3", "finished")
    (runs / "link-4").symlink_to(outside)
    (runs / "plain").mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    (done / "link-to-precious").symlink_to(precious)

    for path, why in ((going, "is running"), (outside, "not a run directory inside"), (runs / "link-4", "a link"),
                      (runs / "plain", "no status.json"), (runs / ".." / "elsewhere" / "run-3", "not a run directory"),
                      (runs / ".launches", "not a run directory")):
        with pytest.raises(HistoryError, match=why):
            delete_run(runs, path)
    assert going.is_dir() and outside.is_dir() and (runs / "plain").is_dir()

    delete_run(runs, done)
    assert not done.exists() and precious.read_text() == "keep"  # links inside are removed, never followed


def test_details_comparisons_and_runs_that_failed_early(tmp_path):
    from core.config import parse_config, save_config
    from core.runs.history import compare_configs, read_details, read_summary

    config = parse_config("name: a\ndata: {source: folder, path: pets}\nmodel: {torchvision: {name: resnet18}}")
    run = make_run(tmp_path, "run-1", "finished", metrics=[0.5, 0.75], checkpoints=("best", "last"), best=0.75)
    save_config(config, run / "config.yaml")
    (run / "evaluation.json").write_text(json.dumps({"accuracy": 0.7, "top5_accuracy": 1.0, "data": "val",
                                                     "per_class": [{"support": 3}, {"support": 4}],
                                                     "confused_pairs": [["a", "b", 2]]}))
    details = read_details(run)
    summary = details.summary
    assert (summary.run_name, summary.dataset, summary.model) == ("a", "pets", "resnet18")
    assert [c.kind for c in details.checkpoints] == ["best", "last"] and details.config["name"] == "a"
    assert (details.evaluation.accuracy, details.evaluation.images) == (0.7, 7)
    assert details.evaluation.confused_pairs == [("a", "b", 2)] and len(details.metrics) == 2

    other = config.model_copy(update={"name": "b", "train": config.train.model_copy(update={"epochs": 9})})
    differences = compare_configs(config.to_plain(), other.to_plain())
    assert [(d.key, d.first, d.second) for d in differences] == [("name", "a", "b"), ("train.epochs", 5, 9)]

    failed = make_run(tmp_path, "run-2", "failed")
    killed = make_run(tmp_path, "run-3", "running")  # its process is gone
    assert read_summary(failed).failed_early and read_summary(killed).failed_early
    assert not summary.failed_early


def test_the_dataset_column_names_a_person_s_data_by_its_path_and_a_set_by_its_source():
    from core.runs.history import dataset_text

    assert dataset_text({"source": "csv", "path": "data/pets/labels.csv"}) == "labels"
    assert dataset_text({"source": "filename", "path": "data/pets.v2"}) == "pets.v2"
    assert dataset_text({"source": "cifar10", "path": "data/cifar10"}) == "cifar10"
    assert dataset_text({"source": "gone", "path": "x"}) == "gone"  # a source this version does not know
    assert dataset_text({"sources": [{"source": "folder", "path": "a/ants"}, {"source": "folder", "path": "a/bees"}]}) == "ants+bees"


def test_a_resumed_run_counts_its_time_before_the_resume_and_since_but_not_the_pause(tmp_path):
    from datetime import datetime, timedelta

    from core.runs.recorder import RunRecorder

    run = make_run(tmp_path, "run-1", "stopped", metrics=[0.5])
    status = json.loads((run / "status.json").read_text())
    long_ago = datetime.now().astimezone() - timedelta(days=2)
    status.update(started=long_ago.isoformat(), ended=(long_ago + timedelta(seconds=95)).isoformat())
    (run / "status.json").write_text(json.dumps(status))

    recorder = RunRecorder(RunDir(run), epochs=5, resumed_at=1)  # resumed by this process, running now
    try:
        assert json.loads((run / "status.json").read_text())["earlier_seconds"] == 95.0
        [summary] = list_runs(tmp_path)
        assert summary.state == "running" and 95.0 <= summary.seconds < 95.0 + 60  # not the two days since the start
    finally:
        recorder.close()


def test_metrics_that_are_not_csv_read_as_none(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_bytes(b'epoch,train_loss\n1,0.5\n"' + b"\xff" * 200_000 + b'"\n')
    assert read_metrics(tmp_path) == []
