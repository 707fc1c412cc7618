"""Decoding with every core (core/data/decode_pool.py): the same tensors and skipped files as the threads give."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import core.data.loading
from core.data import decode_pool
from core.data.images import UnreadableImage
from core.data.loading import decode_samples
from core.data.samples import Sample


@pytest.fixture
def samples(tmp_path) -> list[Sample]:
    """23 JPEG, PNG and greyscale files of assorted sizes, a truncated one and an empty one among them."""
    rng = np.random.default_rng(0)
    found = []
    for index in range(23):
        size = (int(rng.integers(8, 48)), int(rng.integers(8, 48)))
        image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        path = tmp_path / f"{index}.{('jpg', 'png')[index % 2]}"
        (image.convert("L") if index % 5 == 0 else image).save(path)
        found.append(Sample(path, index % 3))
    (tmp_path / "cut.jpg").write_bytes(found[2].path.read_bytes()[:300])
    (tmp_path / "empty.png").write_bytes(b"")
    broken = [Sample(tmp_path / "cut.jpg", 1), Sample(tmp_path / "empty.png", 0)]
    return found[:7] + broken[:1] + found[7:15] + broken[1:] + found[15:]


def in_processes(monkeypatch: pytest.MonkeyPatch) -> list:
    """decode_samples through the worker processes from now on; the list fills with their uses."""
    monkeypatch.setattr(core.data.loading, "PROCESS_MIN_FILES", 1)
    monkeypatch.setattr(core.data.loading, "worker_count", lambda: 2)
    monkeypatch.setattr(decode_pool, "CHUNK_FILES", 4)  # read in the parent: chunks across the broken files
    uses: list = []
    monkeypatch.setattr(core.data.loading, "decode_files",
                        lambda *args: uses.append(args) or decode_pool.decode_files(*args))
    return uses


@pytest.mark.parametrize("channels,resize", [(3, None), (1, None), (3, 20)])
def test_processes_decode_the_same_tensors_as_threads(samples, monkeypatch, channels, resize) -> None:
    threads, threads_skipped = decode_samples(samples, (16, 12), channels, resize)
    uses = in_processes(monkeypatch)
    reported: list[tuple[int, int]] = []
    processes, processes_skipped = decode_samples(samples, (16, 12), channels, resize,
                                                  progress=lambda done, total: reported.append((done, total)))
    assert uses and torch.equal(processes.images, threads.images) and torch.equal(processes.labels, threads.labels)
    assert processes_skipped == threads_skipped and len(threads_skipped) == 2
    assert reported[0] == (0, 25) and reported[-1] == (25, 25)


def test_processes_stop_at_the_first_unreadable_file_when_asked_to(samples, monkeypatch) -> None:
    in_processes(monkeypatch)
    with pytest.raises(UnreadableImage, match="cut.jpg"):
        decode_samples(samples, (16, 12), 3, on_error="fail")
