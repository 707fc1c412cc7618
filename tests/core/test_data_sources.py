"""Every source on generated files: csv, file names, a label per folder, combining, torchvision layouts; the table."""
from __future__ import annotations

import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets

from core.config import DataConfig
from core.data.loading import load_data
from core.data.sources import class_names, list_data
from core.errors import DataError


def _labels(listing, split="train"):
    return sorted((s.path.name, listing.classes[s.label]) for s in getattr(listing, split))


def test_csv_paths_are_relative_to_the_file(tmp_path, write_images):
    write_images(tmp_path / "imgs", 4)
    (tmp_path / "imgs" / "n.txt").write_text("x")
    (tmp_path / "labels.csv").write_text("path,label\nimgs/img000.png,cat\nimgs/img001.png,cat\n"
                                         "imgs/img002.png,dog\nimgs/img003.png,dog\nimgs/gone.png,dog\nimgs/n.txt,dog\n")
    listing = list_data(DataConfig(source="csv", path=str(tmp_path / "labels.csv"), val_split=0.5), seed=0)
    assert listing.classes == ["cat", "dog"] and len(listing.train) == 2 and len(listing.val) == 2
    assert {(s.path.name, s.reason) for s in listing.ignored} == {
        ("gone.png", "listed in the label file but missing"), ("n.txt", "not an image file")}
    (tmp_path / "bad.csv").write_text("imgs/img000.png,cat\nimgs/img001.png\n")
    with pytest.raises(DataError, match=r"bad.csv:2: expected `path,label`"):
        list_data(DataConfig(source="csv", path=str(tmp_path / "bad.csv")), seed=0)


@pytest.mark.parametrize("third_row, problem", [
    (b"imgs/caf\xe9.png,cat", r"labels.csv:3: not UTF-8 text \(byte 0xe9"),
    (b'imgs/a.png,"' + b"x" * 200_000 + b'"', r"labels.csv:3: not a CSV row \(field larger than field limit"),
    (b"imgs/a.png," + b"y" * 100_000 + b",z", r"labels.csv:3: expected `path,label`, got .* characters left out")])
def test_a_label_file_that_is_not_utf8_csv_names_the_line(tmp_path, third_row: bytes, problem: str):
    (tmp_path / "labels.csv").write_bytes(b"path,label\nimgs/a.png,cat\n" + third_row + b"\n")
    with pytest.raises(DataError, match=problem) as caught:
        list_data(DataConfig(source="csv", path=str(tmp_path / "labels.csv")), seed=0)
    assert len(str(caught.value)) < 1000


def test_label_from_a_separator_or_a_pattern(tmp_path, write_images):
    for name in ("cat_1", "cat_2", "dog_1", "dog_2", "nolabel"):
        write_images(tmp_path, 1)[0].rename(tmp_path / f"{name}.png")
    listing = list_data(DataConfig(source="filename", path=str(tmp_path), separator="_", val_split=0.5), seed=0)
    assert listing.classes == ["cat", "dog"] and len(listing.train) + len(listing.val) == 4
    assert [(s.path.name, s.reason) for s in listing.ignored] == [("nolabel.png", "no '_' in the file name")]
    regex = list_data(DataConfig(source="filename", path=str(tmp_path), pattern=r"_(?P<label>\d)\."), seed=0)
    assert regex.classes == ["1", "2"]
    assert [(s.path.name, s.reason) for s in regex.ignored] == [("nolabel.png", "file name does not match data.pattern")]


def test_the_tutorials_ants_plus_bees(tmp_path, write_images):
    write_images(tmp_path / "train" / "ants", 5)
    write_images(tmp_path / "train" / "bees", 5, colour=(0, 0, 200))
    config = DataConfig(sources=[{"path": str(tmp_path / "train" / "ants"), "label": "ants"},
                                 {"path": str(tmp_path / "train" / "bees"), "label": "bees"}], val_split=0.2, image_size=8)
    assert config.source == "combined"
    data = load_data(config, seed=0)
    assert data.classes == ["ants", "bees"] and len(data.train) == 8 and data.val.labels.tolist() == [0, 1]
    assert data.train.images[data.train.labels == 1][:, 2].float().mean() > 150  # bees are blue


def test_combining_merges_classes_by_name(tmp_path, write_images):
    write_images(tmp_path / "a" / "cat", 3)
    write_images(tmp_path / "a" / "dog", 3)
    write_images(tmp_path / "b" / "cow", 3)
    config = DataConfig(sources=[{"path": str(tmp_path / "a")}, {"path": str(tmp_path / "b" / "cow"), "label": "cat"}])
    listing = list_data(config, seed=0)
    assert listing.classes == ["cat", "dog"] and sum(s.label == 0 for s in listing.train + listing.val) == 6


def test_one_class_in_all_is_an_error(tmp_path, write_images):
    write_images(tmp_path / "ants", 3)
    with pytest.raises(DataError, match="only one class \\('ants'\\)"):
        list_data(DataConfig(sources=[{"path": str(tmp_path / "ants"), "label": "ants"}]), seed=0)


def _cifar(root, folder, meta, names_key, labels_key, train_files, test_files, classes):
    rng = np.random.default_rng(0)
    (root / folder).mkdir(parents=True)
    with open(root / folder / meta, "wb") as f:
        pickle.dump({names_key: classes}, f, protocol=2)
    for name in train_files + test_files:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        with open(root / folder / name, "wb") as f:
            pickle.dump({b"data": data, labels_key.encode(): [0, 1, 2, 1]}, f, protocol=2)
    return data


def test_cifar10_layout_is_read_without_network(tmp_path):
    last = _cifar(tmp_path, "cifar-10-batches-py", "batches.meta", "label_names", "labels",
                  [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], ["airplane", "automobile", "bird"])
    data = load_data(DataConfig(source="cifar10", path=str(tmp_path), normalize="none"), seed=0)
    assert data.classes == ["airplane", "automobile", "bird"]
    assert data.train.images.shape == (20, 3, 32, 32) and len(data.val) == 4
    assert np.array_equal(data.val.images[3].numpy(), last[3].reshape(3, 32, 32))
    assert data.val.labels.tolist() == [0, 1, 2, 1]


def test_cifar100_and_a_hostile_pickle(tmp_path):
    _cifar(tmp_path, "cifar-100-python", "meta", "fine_label_names", "fine_labels", ["train"], ["test"], ["a", "b", "c"])
    assert len(list_data(DataConfig(source="cifar100", path=str(tmp_path)), seed=0).train) == 4
    (tmp_path / "cifar-100-python" / "test").write_bytes(pickle.dumps(print))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        list_data(DataConfig(source="cifar100", path=str(tmp_path)), seed=0)


def _idx(path, array, gz):
    raw = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("source,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_layout_plain_or_gz_and_three_channels(tmp_path, source, folder):
    raw = tmp_path / folder / "raw"
    images = np.arange(5 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(5, 28, 28)
    _idx(raw / "train-images-idx3-ubyte", images, gz=True)
    _idx(raw / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 9], dtype=np.uint8), gz=True)
    _idx(raw / "t10k-images-idx3-ubyte", images[:2], gz=False)
    _idx(raw / "t10k-labels-idx1-ubyte", np.array([1, 0], dtype=np.uint8), gz=False)
    data = load_data(DataConfig(source=source, path=str(tmp_path), image_size=28, normalize="none"), seed=0)
    assert len(data.classes) == 10 and data.classes[1] == getattr(torchvision.datasets, folder).classes[1]
    assert data.train.images.shape == (5, 3, 28, 28) and data.train.labels.tolist() == [0, 1, 2, 3, 9]
    assert (data.train.images[2, 0] == data.train.images[2, 2]).all()
    assert np.array_equal(data.train.images[2, 1].numpy(), images[2])
    grey = load_data(DataConfig(source=source, path=str(tmp_path), image_size=14, channels=1), seed=0)
    assert grey.train.images.shape == (5, 1, 14, 14)


def test_missing_set_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="cifar10 is not in .*cifar-10-batches-py/ with data_batch_1") as info:
        list_data(DataConfig(source="cifar10", path=str(tmp_path)), seed=0)
    assert "data.download: true" in str(info.value)


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    calls = []

    def offline(root, train, download):
        calls.append((root, train, download))
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataError, match="could not download mnist into .*name resolution") as info:
        list_data(DataConfig(source="mnist", path=str(tmp_path), download=True), seed=0)
    assert calls == [(str(tmp_path), True, True)] and "check the internet connection" in str(info.value)


def test_config_errors_name_the_key():
    from core.config import parse_config

    with pytest.raises(Exception, match=r"data\.sources\[1\].*separator applies to source filename"):
        parse_config("model: {layers: [flatten]}\ndata:\n  sources:\n    - {path: a, label: x}\n    - {path: b, separator: _}\n")


def test_a_key_of_another_source_names_the_keys_this_one_takes():
    from core.config import parse_config

    with pytest.raises(Exception, match=r"data\.label applies to source folder, not 'csv' \(which takes path\)"):
        parse_config("model: {layers: [flatten]}\ndata: {source: csv, path: a.csv, label: x}\n")
    assert parse_config("model: {layers: [flatten]}\ndata: {source: csv, path: a.csv, download: false}\n")


def test_class_names_without_generating_or_downloading(tmp_path):
    assert class_names(DataConfig(path=str(tmp_path / "shapes")), seed=0)[:2] == ["circle", "cross"]
    assert class_names(DataConfig(source="cifar100", path=str(tmp_path)), seed=0)[-1] == "99"
    assert not any(tmp_path.iterdir())


THROWAWAY_SOURCE = """
import sys
from pydantic import Field
from core.data.samples import split_by_class
from core.data.sources import SOURCES, Source, SourceKeys


class InitialKeys(SourceKeys):
    suffix: str = Field(".png", description="the images' file extension")


def scan(keys, data, seed):
    groups = {}
    for image in sorted(keys.root.glob(f"*{keys.suffix}")):
        groups.setdefault(image.name[0], []).append(image)
    return split_by_class(groups, data.val_split, seed)


SOURCES.add(Source("initial", InitialKeys, scan, "images labelled by their first letter"))

from core.config import parse_config  # builds the data section from the table as it is now
from core.data.reference import markdown
from core.data.sources import class_names, list_data

listing = list_data(parse_config(sys.argv[1]).data, seed=0)
print(listing.classes, len(listing.train) + len(listing.val))
print("| `initial` | images labelled by their first letter | `path` (required), `suffix` (\\".png\\") |" in markdown())
try:
    parse_config("model: {layers: [flatten]}\\ndata: {source: folder, path: x, suffix: .jpg}")
except Exception as exc:
    print(exc)
"""


def test_a_source_is_one_table_entry(tmp_path, write_images):
    for name in ("ant1", "ant2", "bee1", "bee2", "bee3"):
        write_images(tmp_path, 1)[0].rename(tmp_path / f"{name}.png")
    write_images(tmp_path, 1, suffix=".jpg")[0].rename(tmp_path / "cow.jpg")
    config = f"model: {{layers: [flatten]}}\ndata: {{source: initial, path: {tmp_path}, suffix: .png}}\n"
    result = subprocess.run([sys.executable, "-c", THROWAWAY_SOURCE, config], cwd=Path(__file__).parents[2],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["['a', 'b'] 5", "True", "invalid config:"]
    assert "data.suffix applies to source initial, not 'folder' (which takes path, label)" in result.stdout


def test_the_docs_list_every_source():
    from core.data.reference import embed

    doc = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    assert embed(doc) == doc, "run: python -m core.data.reference --write docs/config.md"
