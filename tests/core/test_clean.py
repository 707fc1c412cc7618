"""Folds, decisions and duplicates, without training: stratified disjoint folds, decisions every source honours,
planted near-copies and train/val leaks found, and exact duplicates counted as the health report counts them."""
from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.clean.duplicates import find_duplicates, listed_images
from core.config import DataConfig, ShapesOptions
from core.data.decisions import Decisions, apply_decisions, read_decisions, sample_name, write_decisions
from core.data.folds import HeldOutFold, assign_folds, hold_out
from core.data.inspect import DatasetView
from core.data.samples import Listing, Sample
from core.data.sources import SOURCES, list_data
from core.errors import DataError
from tests.core.clean_sets import colour_folder, near_copy
from tests.core.test_data_sources import _cifar, _idx


def _pool(counts: dict[int, int]) -> Listing:
    samples = [Sample(Path(f"/data/{label}/{n}.png"), label) for label, count in counts.items() for n in range(count)]
    return Listing([str(label) for label in counts], samples, [], "classes")


def test_folds_are_stratified_disjoint_seeded_and_cover_the_pool() -> None:
    listing = _pool({0: 17, 1: 9, 2: 30})
    held = [hold_out(listing, HeldOutFold(index=k, folds=4), seed=5) for k in range(1, 5)]
    vals = [set(fold.val) for fold in held]
    assert sum(len(v) for v in vals) == len(listing.train) and set().union(*vals) == set(listing.train)
    for fold in held:
        assert set(fold.train) | set(fold.val) == set(listing.train) and not set(fold.train) & set(fold.val)
    for label, count in {0: 17, 1: 9, 2: 30}.items():  # every class spread evenly over the folds
        per_fold = [sum(s.label == label for s in v) for v in vals]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == count
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 1
    assert assign_folds(listing.train, 4, seed=5) == assign_folds(listing.train, 4, seed=5)
    assert assign_folds(listing.train, 4, seed=5) != assign_folds(listing.train, 4, seed=6)


def test_a_fold_config_splits_the_pool_and_leaves_the_own_val_out(tmp_path: Path) -> None:
    colour_folder(tmp_path, per_class=10)
    whole = list_data(DataConfig(source="folder", path=str(tmp_path)), seed=0)
    fold = list_data(DataConfig(source="folder", path=str(tmp_path), fold={"index": 2, "folds": 3}), seed=0)
    assert fold.layout == "fold" and set(fold.train) | set(fold.val) == set(whole.train)
    assert not set(fold.val) & set(whole.val)
    with pytest.raises(DataError, match="cannot be split into 20 folds"):
        hold_out(_pool({0: 5, 1: 5}), HeldOutFold(index=1, folds=20), seed=0)
    with pytest.raises(ValueError, match="beyond the 3 folds"):
        HeldOutFold(index=4, folds=3)


# Each source on the smallest set it reads: a data config (its keys) made in a folder.
def _shapes(root: Path) -> dict:
    return {"source": "shapes", "path": str(root / "shapes"),
            "shapes": ShapesOptions(train_per_class=3, val_per_class=2, size=8)}


def _folder(root: Path) -> dict:
    colour_folder(root / "images", per_class=4)
    return {"source": "folder", "path": str(root / "images")}


def _csv(root: Path) -> dict:
    colour_folder(root / "images", per_class=4)
    with open(root / "labels.csv", "w", newline="") as file:
        csv.writer(file).writerows([path.relative_to(root), path.parent.name] for path in sorted(root.rglob("*.png")))
    return {"source": "csv", "path": str(root / "labels.csv")}


def _filename(root: Path) -> dict:
    colour_folder(root / "classes", per_class=4)
    (root / "flat").mkdir()
    for path in sorted((root / "classes").rglob("*.png")):
        shutil.copy(path, root / "flat" / f"{path.parent.name}_{path.name}")
    return {"source": "filename", "path": str(root / "flat"), "separator": "_"}


def _cifar_set(name: str, *layout: object) -> object:
    def make(root: Path) -> dict:
        _cifar(root, *layout)
        return {"source": name, "path": str(root)}
    return make


def _mnist_set(name: str, folder: str) -> object:
    def make(root: Path) -> dict:
        images = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
        for stem, count in (("train", 6), ("t10k", 2)):
            _idx(root / folder / "raw" / f"{stem}-images-idx3-ubyte", images[:count], gz=False)
            _idx(root / folder / "raw" / f"{stem}-labels-idx1-ubyte", np.arange(count, dtype=np.uint8) % 3, gz=False)
        return {"source": name, "path": str(root), "image_size": 28}
    return make


MAKERS = {
    "shapes": _shapes, "folder": _folder, "csv": _csv, "filename": _filename,
    "cifar10": _cifar_set("cifar10", "cifar-10-batches-py", "batches.meta", "label_names", "labels",
                          [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], ["airplane", "automobile", "bird"]),
    "cifar100": _cifar_set("cifar100", "cifar-100-python", "meta", "fine_label_names", "fine_labels", ["train"], ["test"],
                           ["a", "b", "c"]),
    "mnist": _mnist_set("mnist", "MNIST"), "fashion_mnist": _mnist_set("fashion_mnist", "FashionMNIST"),
}


@pytest.mark.parametrize("source", SOURCES.names)
def test_every_source_applies_the_decisions_file(tmp_path: Path, source: str) -> None:
    assert source in MAKERS, f"add a maker for the new source '{source}' to MAKERS"
    keys = MAKERS[source](tmp_path)
    before = list_data(DataConfig(**keys), seed=0)
    names = [sample_name(s, "train", i) for i, s in enumerate(before.train)]
    gone, moved = names[0], names[-1]
    new_class = next(name for name in before.classes if name != before.classes[before.train[-1].label])
    write_decisions(tmp_path / "decisions.yaml", Decisions(exclude=[gone], relabel={moved: new_class}))
    after = list_data(DataConfig(**keys, exclude=str(tmp_path / "decisions.yaml"),
                                 relabel=str(tmp_path / "decisions.yaml")), seed=0)
    assert len(after.train) == len(before.train) - 1 and len(after.val) == len(before.val)
    after_names = [sample_name(s, "train", i) for i, s in enumerate(before.train) if i != 0]
    assert gone not in after_names
    assert after.classes[after.train[-1].label] == new_class
    assert [s.label for s in after.train[:-1]] == [s.label for s in before.train[1:-1]]
    inline = list_data(DataConfig(**keys, exclude=[gone], relabel={moved: new_class}), seed=0)
    assert [s.label for s in inline.train] == [s.label for s in after.train]


def test_decisions_name_files_by_any_spelling_and_refuse_unknown_classes(tmp_path: Path, monkeypatch) -> None:
    colour_folder(tmp_path / "images", per_class=3)
    listing = list_data(DataConfig(source="folder", path=str(tmp_path / "images")), seed=0)
    target = listing.train[0].path
    monkeypatch.chdir(tmp_path)
    relative = str(target.relative_to(tmp_path))
    assert len(apply_decisions(listing, Decisions(exclude=[relative])).train) == len(listing.train) - 1
    with pytest.raises(DataError, match="(?s)relabel names class 'purple'.*the classes are blue, green, red, yellow"):
        apply_decisions(listing, Decisions(relabel={relative: "purple"}))


def test_a_decisions_file_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text("exclude: !!python/object/apply:os.system [echo no]\n")
    with pytest.raises(DataError, match="not valid YAML"):
        read_decisions(path)
    path.write_text("exclude: [a.png]\nrename: {a.png: b.png}\n")
    with pytest.raises(DataError, match="rename: Extra inputs are not permitted"):
        read_decisions(path)
    path.write_bytes(b"#" * (8 * 2**20 + 1))
    with pytest.raises(DataError, match="more than 8 MB"):
        read_decisions(path)
    with pytest.raises(DataError, match="decisions file .*missing.yaml.*cannot read the file"):
        read_decisions(tmp_path / "missing.yaml")


def test_planted_near_copies_and_leaks_are_found(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for split in ("train", "val"):
        colour_folder(root / split, per_class=12, seed={"train": 0, "val": 1}[split])
    within = near_copy(root / "train/red/000.png", root / "train/red/copy-000.jpg")
    across = near_copy(root / "train/blue/001.png", root / "train/green/copy-001.jpg", scale=2.0)
    leak = near_copy(root / "train/yellow/002.png", root / "val/yellow/copy-002.jpg", scale=1.25, quality=60)
    exact = shutil.copy(root / "train/green/003.png", root / "val/green/copy-003.png")
    listing = list_data(DataConfig(source="folder", path=str(root)), seed=0)
    groups = {frozenset(Path(p).name for p in g.paths): g for g in find_duplicates(listed_images(listing))}
    assert set(groups) == {frozenset({"000.png", within.name}), frozenset({"001.png", across.name}),
                           frozenset({"002.png", leak.name}), frozenset({"003.png", Path(exact).name})}
    found = {name: groups[key] for key in groups for name in key if name.startswith("copy")}
    assert (found[within.name].kind, found[within.name].across_splits, found[within.name].across_classes) == \
        ("near", False, False)
    assert found[across.name].across_classes and not found[across.name].across_splits
    assert found[leak.name].across_splits and found[leak.name].kind == "near"
    assert found[Path(exact).name].kind == "exact" and found[Path(exact).name].across_splits
    ranked = find_duplicates(listed_images(listing))
    assert [g.across_splits for g in ranked] == [True, True, False, False]  # leaks first


def test_exact_duplicates_agree_with_the_health_report(tmp_path: Path) -> None:
    colour_folder(tmp_path, per_class=6)
    shutil.copy(tmp_path / "red/000.png", tmp_path / "red/again.png")
    shutil.copy(tmp_path / "red/000.png", tmp_path / "blue/again.png")
    shutil.copy(tmp_path / "green/001.png", tmp_path / "green/again.png")
    config = DataConfig(source="folder", path=str(tmp_path))
    health = DatasetView.open(config, seed=0).health()
    exact = [g for g in find_duplicates(listed_images(list_data(config, seed=0))) if g.kind == "exact"]
    assert sorted(sorted(map(str, group)) for group in health.duplicates) == sorted(sorted(g.paths) for g in exact)
    assert Counter(len(g.paths) for g in exact) == {3: 1, 2: 1}
