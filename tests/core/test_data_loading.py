"""load_data / decode_samples / normalize_batch: tensors, skipped files, normalisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from core.config import DataConfig
from core.data.folder import Sample
from core.data.loading import decode_samples, load_data, normalize_batch
from core.errors import DataError


def _folder(tmp_path, write_images):
    """Two classes of 4 small images in different colours and sizes, plus two broken files."""
    write_images(tmp_path / "data" / "red", 4, size=(20, 12), colour=(220, 30, 30))
    write_images(tmp_path / "data" / "blue", 4, size=(9, 15), colour=(20, 40, 230))
    Image.effect_noise((64, 64), 50).convert("RGB").save(tmp_path / "full.jpg")
    (tmp_path / "data" / "red" / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:500])
    (tmp_path / "data" / "blue" / "empty.png").write_bytes(b"")
    return tmp_path / "data"


def test_decode_samples_resizes_like_transforms_resize(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    split, skipped = decode_samples([Sample(tmp_path / "a.png", 1)], (12, 20), 3)
    assert split.images.dtype == torch.uint8 and split.images.shape == (1, 3, 12, 20)
    assert split.labels.dtype == torch.int64 and split.labels.tolist() == [1] and len(split) == 1
    expected = transforms.PILToTensor()(transforms.Resize((12, 20))(Image.fromarray(pixels)))
    assert torch.equal(split.images[0], expected) and skipped == []
    grey, _ = decode_samples([Sample(tmp_path / "a.png", 0)], (8, 8), 1)
    assert grey.images.shape == (1, 1, 8, 8)


def test_unreadable_files_are_skipped_and_reported(tmp_path, write_images):
    data = load_data(DataConfig(source="folder", path=str(_folder(tmp_path, write_images)), val_split=0.25), seed=0)
    assert data.classes == ["blue", "red"]
    assert len(data.train) + len(data.val) == 8
    assert data.train.images.shape[1:] == (3, 32, 32)
    assert {(s.path.name, s.reason) for s in data.skipped} == {("cut.jpg", "truncated image"), ("empty.png", "empty file")}
    assert {s.path for s in data.skipped} == {tmp_path / "data" / "red" / "cut.jpg", tmp_path / "data" / "blue" / "empty.png"}


def test_auto_normalize_matches_torch(tmp_path, write_images):
    data = load_data(DataConfig(source="folder", path=str(_folder(tmp_path, write_images))), seed=0)
    x = data.train.images.double() / 255
    assert data.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-6)
    assert data.std == pytest.approx(x.std(dim=(0, 2, 3), correction=0).tolist(), abs=1e-6)
    normalized = normalize_batch(data.train.images, data.mean, data.std)
    assert normalized.dtype == torch.float32
    assert normalized.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert normalized.std(dim=(0, 2, 3), correction=0) == pytest.approx([1, 1, 1], abs=1e-4)


def test_explicit_and_none_normalize(tmp_path, write_images):
    path = str(_folder(tmp_path, write_images))
    none = load_data(DataConfig(source="folder", path=path, normalize="none", channels=1), seed=0)
    assert (none.mean, none.std) == ([0.0], [1.0]) and none.train.images.shape[1] == 1
    explicit = load_data(DataConfig(source="folder", path=path, normalize={"mean": [0.5], "std": [0.25]}), seed=0)
    assert (explicit.mean, explicit.std) == ([0.5] * 3, [0.25] * 3)
    batch = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    assert torch.allclose(normalize_batch(batch, explicit.mean, explicit.std), torch.full((2, 3, 4, 4), 2.0))


def test_class_with_no_usable_training_image_is_named(tmp_path, write_images):
    write_images(tmp_path / "train" / "ok", 2)
    write_images(tmp_path / "val" / "ok", 1)
    (tmp_path / "train" / "broken").mkdir()
    (tmp_path / "train" / "broken" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="class 'broken'") as info:
        load_data(DataConfig(source="folder", path=str(tmp_path)), seed=0)
    assert "x.png (empty file)" in str(info.value)


def test_relative_path_and_missing_folder_message(tmp_path, monkeypatch, write_images):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="set data.path") as info:
        load_data(DataConfig(source="folder", path="nowhere"), seed=0)
    assert str(tmp_path / "nowhere") in str(info.value)
    _folder(tmp_path, write_images)
    assert load_data(DataConfig(source="folder", path="data"), seed=0).root == tmp_path / "data"


def test_shapes_source_generates_and_loads(tmp_path):
    config = DataConfig(path=str(tmp_path / "shapes"), image_size=16,
                        shapes={"seed": 1, "train_per_class": 3, "val_per_class": 2, "size": 20})
    data = load_data(config, seed=0)
    assert data.classes == sorted(["circle", "square", "triangle", "star", "cross"])
    assert data.train.images.shape == (15, 3, 16, 16) and len(data.val) == 10
    assert data.train.labels.bincount().tolist() == [3] * 5 and data.skipped == []


def test_auto_stats_decode_a_chunk_at_a_time_and_are_exact(tmp_path, monkeypatch) -> None:
    import core.data.loading as loading

    arrays = [np.full((4, 4, 3), value, dtype=np.uint8) for value in range(0, 250, 10)]
    samples = [Sample(path=tmp_path / f"{i}.png", label=0, array=a) for i, a in enumerate(arrays)]
    sizes: list[int] = []
    decode = loading.decode_samples
    monkeypatch.setattr(loading, "_DECODE_CHUNK", 4)
    monkeypatch.setattr(loading, "decode_samples", lambda chosen, *a, **k: sizes.append(len(chosen)) or decode(chosen, *a, **k))
    mean, std = loading.auto_stats(samples, DataConfig(image_size=(4, 4)), seed=0)
    assert max(sizes) == 4 and sum(sizes) == len(samples)
    reference = torch.tensor(np.stack(arrays), dtype=torch.float64) / 255
    assert mean == pytest.approx(reference.mean(dim=(0, 1, 2)).tolist())
    assert std == pytest.approx(reference.std(dim=(0, 1, 2), unbiased=False).tolist())
