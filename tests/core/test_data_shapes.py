"""The embedded shapes dataset: layout, determinism, caching, safe replacement."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from core.config import ShapesOptions
from core.data import shapes
from core.data.shapes import MARKER, SHAPE_CLASSES, ensure_shapes
from core.errors import DataError

SMALL = ShapesOptions(seed=3, train_per_class=4, val_per_class=2, size=16)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_complete_layout_and_counts(tmp_path):
    root = ensure_shapes(tmp_path / "shapes", SMALL)
    assert root == tmp_path / "shapes"
    for split, count in (("train", 4), ("val", 2)):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(SHAPE_CLASSES)
        for name in SHAPE_CLASSES:
            files = sorted((root / split / name).iterdir())
            assert [p.name for p in files] == sorted(f"{i}.png" for i in range(count))
            with Image.open(files[0]) as img:
                assert img.mode == "RGB" and img.size == (16, 16)
    assert json.loads((root / MARKER).read_text())["options"] == SMALL.model_dump()
    assert [p.name for p in tmp_path.iterdir()] == ["shapes"]  # no temporary folder left


def test_same_options_give_identical_bytes_and_another_seed_differs(tmp_path):
    first = _files(ensure_shapes(tmp_path / "a", SMALL))
    assert first == _files(ensure_shapes(tmp_path / "b", SMALL))
    other = _files(ensure_shapes(tmp_path / "c", SMALL.model_copy(update={"seed": 4})))
    assert other.keys() == first.keys()
    assert all(other[key] != first[key] for key in first)


def test_images_within_a_class_vary(tmp_path):
    root = ensure_shapes(tmp_path / "s", SMALL)
    assert len({p.read_bytes() for p in (root / "train" / "star").iterdir()}) == 4


def test_second_call_reuses_the_files(tmp_path):
    root = ensure_shapes(tmp_path / "s", SMALL)
    stamp = (root / "train" / "circle" / "0.png").stat().st_mtime_ns
    ensure_shapes(root, SMALL)
    assert (root / "train" / "circle" / "0.png").stat().st_mtime_ns == stamp


def test_stale_or_incomplete_dataset_is_replaced(tmp_path):
    root = ensure_shapes(tmp_path / "s", SMALL)
    bigger = SMALL.model_copy(update={"train_per_class": 5})
    ensure_shapes(root, bigger)
    assert len(list((root / "train" / "cross").iterdir())) == 5
    (root / "val" / "star" / "0.png").unlink()
    ensure_shapes(root, bigger)
    assert (root / "val" / "star" / "0.png").is_file()


def test_interrupted_generation_leaves_no_half_dataset(tmp_path, monkeypatch):
    calls = []
    real = shapes._draw_shape

    def failing(*args):
        calls.append(1)
        if len(calls) > 7:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(shapes, "_draw_shape", failing)
    with pytest.raises(KeyboardInterrupt):
        ensure_shapes(tmp_path / "s", SMALL)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shapes, "_draw_shape", real)
    assert len(list(ensure_shapes(tmp_path / "s", SMALL).rglob("*.png"))) == 30


def test_a_folder_that_is_not_a_shapes_dataset_is_never_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DataError, match="not a generated shapes dataset"):
        ensure_shapes(tmp_path / "mine", SMALL)
    assert (tmp_path / "mine" / "holiday.jpg").read_bytes() == b"precious"
