"""DatasetView: counts, sample access, the transform preview, the health report, auto statistics."""
from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

from core.config import DataConfig
from core.data.images import UnreadableImage
from core.data.inspect import ClassCount, DatasetView
from core.data.loading import load_data


def _messy(tmp_path, write_images):
    root = tmp_path / "data"
    for i, path in enumerate(write_images(root / "train" / "ants", 10, size=(20, 10), colour=(200, 40, 40))):
        Image.new("RGB", (20, 10), (200, 40, i)).save(path)  # all different
    write_images(root / "train" / "bees", 2, size=(12, 12), colour=(20, 40, 200))
    write_images(root / "val" / "ants", 1)
    write_images(root / "val" / "bees", 1)
    Image.new("L", (6, 6), 90).save(root / "train" / "bees" / "grey.png")
    shutil.copy(root / "train" / "ants" / "img000.png", root / "train" / "ants" / "copy.png")
    (root / "train" / "ants" / "fake.jpg").write_text("not a picture")
    (root / "train" / "ants" / "notes.txt").write_text("hi")
    return root


def _view(root, **options):
    return DatasetView.open(DataConfig(source="folder", path=str(root), **options), seed=0)


def test_counts_indices_and_samples(tmp_path, write_images):
    view = _view(_messy(tmp_path, write_images))
    assert view.classes == ["ants", "bees"] and len(view) == 17
    assert view.counts() == [ClassCount("ants", 12, 1), ClassCount("bees", 3, 1)]
    assert view.indices_of("bees") == [12, 13, 14, 16] and view.indices_of(None) == list(range(17))
    img, info = view.sample(0)
    assert img.mode == "RGB" and img.size == (20, 10)
    assert (info.index, info.label, info.split, info.path.name) == (0, "ants", "train", "copy.png")
    assert (info.size, info.mode) == ((20, 10), "RGB")
    assert view.sample(12)[1].mode == "L" and view.sample(16)[1].split == "val"
    with pytest.raises(UnreadableImage, match="not an image"):
        view.sample(1)  # fake.jpg


def test_preview_is_what_the_model_sees(tmp_path, write_images):
    root = tmp_path / "d"
    write_images(root / "a", 3, size=(40, 20))
    write_images(root / "b", 3, size=(40, 20), colour=(0, 0, 255))
    view = _view(root, image_size=[8, 16], augment={"horizontal_flip": True, "rotation": 30})
    before, after = view.preview(0)
    assert before.size == (40, 20) and after.size == (16, 8) and after.getpixel((3, 3)) == (200, 40, 40)
    augmented = [view.preview(0, augment=True)[1] for _ in range(6)]
    assert all(a.size == (16, 8) for a in augmented)
    assert any(a.getpixel((0, 0)) == (0, 0, 0) for a in augmented)  # rotation leaves black corners
    grey = _view(root, channels=1, image_size=8).preview(3)[1]
    assert grey.mode == "L" and grey.size == (8, 8)


def test_health_report(tmp_path, write_images):
    root = _messy(tmp_path, write_images)
    calls = []
    report = _view(root).health(progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (17, 17) and len(calls) == 17 and report.total == 17
    assert report.classes == [ClassCount("ants", 12, 1), ClassCount("bees", 3, 1)]
    assert report.without_val == []
    assert "'ants' has 13 images" in report.imbalance and "'bees' (4)" in report.imbalance
    assert report.sizes == {(20, 10): 11, (12, 12): 2, (12, 10): 2, (6, 6): 1}
    assert report.modes == {"RGB": 15, "L": 1}
    assert {(s.path.name, s.reason) for s in report.unreadable} == {
        ("fake.jpg", "not an image"), ("notes.txt", "not an image file")}
    assert sorted(sorted(f"{p.parent.parent.name}/{p.name}" for p in group) for group in report.duplicates) == [
        ["train/copy.png", "train/img000.png"], ["train/img000.png", "train/img001.png"],  # bees' two are equal
        ["val/img000.png", "val/img000.png"]]


def test_a_class_without_validation_images_is_named(tmp_path, write_images):
    write_images(tmp_path / "train" / "ants", 3)
    write_images(tmp_path / "train" / "bees", 3)
    write_images(tmp_path / "val" / "ants", 2)  # no val/bees
    assert _view(tmp_path).health().without_val == ["bees"]


def test_balanced_set_has_no_imbalance_warning(tmp_path, write_images):
    write_images(tmp_path / "a", 3)
    write_images(tmp_path / "b", 9)
    assert _view(tmp_path).health().imbalance is None


def test_mean_std_is_what_auto_normalize_uses(tmp_path, write_images):
    root = _messy(tmp_path, write_images)
    (root / "train" / "ants" / "fake.jpg").unlink()
    config = DataConfig(source="folder", path=str(root), image_size=8)
    mean, std = DatasetView.open(config, seed=0).mean_std()
    data = load_data(config, seed=0)
    assert mean == pytest.approx(data.mean) and std == pytest.approx(data.std)
    assert mean[0] > mean[2]
    assert torch.is_tensor(data.train.images)
