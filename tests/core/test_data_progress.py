"""Preparing the data shows progress: decode counts, DataProgress events, and the headless lines."""
from __future__ import annotations

import io
import json

from core.prepare import devices
from core.train import engine as training
from core.config import DataConfig
from core.data.loading import load_data
from core.data.folder import Sample
from core.data.loading import decode_samples
from core.train.events import DataProgress, RunStarted, event_from_dict
from workbench.headless import PREPARE_LINE_SECONDS, PREPARE_QUIET_SECONDS, PlainReporter


def test_decoding_reports_each_file(tmp_path, write_images):
    paths = write_images(tmp_path / "a", 5)
    calls = []
    decode_samples([Sample(path, 0) for path in paths], (8, 8), 3,
                   progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_load_data_counts_training_and_validation_together(tmp_path, write_images):
    write_images(tmp_path / "data" / "red", 6)
    write_images(tmp_path / "data" / "blue", 4, colour=(0, 0, 200))
    calls = []
    load_data(DataConfig(source="folder", path=str(tmp_path / "data"), val_split=0.3), seed=0,
              progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 10) and calls[-1] == (10, 10)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_fit_emits_data_progress_before_the_run_starts(tiny, train, tmp_path, monkeypatch):
    monkeypatch.setattr(training, "DATA_PROGRESS_SECONDS", 0.0)  # every file: as a slow folder would
    run, events = train(tiny("train.epochs=1"), tmp_path)
    started = next(i for i, event in enumerate(events) if isinstance(event, RunStarted))
    progress = [event for event in events if isinstance(event, DataProgress)]
    assert progress and all(isinstance(event, DataProgress) for event in events[:started])
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total > 0
    assert {event.stage for event in progress} == {"decoding images"}
    assert sum(line["type"] == "data_progress" for line in run.read_events()) == len(progress)
    log = run.log_path.read_text()
    total = f"{progress[-1].total:,}"
    assert f"decoding images {total}/{total} (100%)" in log and f"decoding images 1/{total}" not in log


def test_a_quick_preparation_emits_nothing(tiny, train, tmp_path):
    _, events = train(tiny("train.epochs=1"), tmp_path)
    assert not any(isinstance(event, DataProgress) for event in events)


def test_events_read_back_and_old_lines_still_read():
    event = DataProgress(stage="decoding images", done=3, total=9)
    assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
    old = {"type": "run_started", "run_dir": "r", "name": "n", "device": "cpu", "epochs": 1, "classes": ["a"],
           "train_samples": 1, "val_samples": 1, "batches_per_epoch": 1, "parameters": 1, "skipped_files": 0}
    assert event_from_dict(old).warnings == []


def progress_lines(times_and_counts: list[tuple[float, int]], total: int = 60_000) -> list[str]:
    out = io.StringIO()
    reporter = PlainReporter(out)
    for moment, done in times_and_counts:
        reporter.handle(DataProgress(stage="decoding images", done=done, total=total, time=1000.0 + moment))
    return out.getvalue().splitlines()


def test_plain_output_is_quiet_for_a_short_preparation():
    assert progress_lines([(0.0, 0), (0.5, 30_000), (1.0, 60_000)]) == []


def test_plain_output_says_a_line_every_few_seconds():
    lines = progress_lines([(i * 0.5, i * 1000) for i in range(61)])  # 30 s for 60,000 files
    assert PREPARE_QUIET_SECONDS == 2.0 and PREPARE_LINE_SECONDS == 5.0
    assert [line.split()[2] for line in lines] == ["4,000/60,000", "14,000/60,000", "24,000/60,000", "34,000/60,000",
                                                   "44,000/60,000", "54,000/60,000", "60,000/60,000"]
    assert lines[0] == "decoding images 4,000/60,000 (7%)" and lines[-1].endswith("(100%)")


def test_free_memory_from_nvidia_smi():
    text = "GPU-0a1b, 142000\nGPU-2c3d, 1024\nnot a line\n"
    assert devices.parse_free_memory(text) == {"0a1b": 142000.0, "2c3d": 1024.0}


def test_the_cpu_is_always_listed():
    listed = devices.list_devices()
    assert listed[0].value == "cpu" and "threads" in listed[0].description
