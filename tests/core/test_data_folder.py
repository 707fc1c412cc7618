"""scan_folder: both layouts, what is ignored, stratified seeded split, helpful errors."""
from __future__ import annotations

import os

import pytest

from core.data.folder import scan_folder
from core.errors import DataError


def _names(samples):
    return [(s.path.parent.name, s.path.name, s.label) for s in samples]


def test_split_layout_uses_the_union_of_classes(tmp_path, write_images):
    write_images(tmp_path / "train" / "bees", 3)
    write_images(tmp_path / "train" / "ants", 2)
    write_images(tmp_path / "val" / "ants", 1)
    listing = scan_folder(tmp_path, 0.2, seed=0)
    assert listing.layout == "split" and listing.classes == ["ants", "bees"]
    assert [(c, label) for c, _, label in _names(listing.train)] == [("ants", 0)] * 2 + [("bees", 1)] * 3
    assert _names(listing.val) == [("ants", "img000.png", 0)]


def test_classes_layout_ignores_hidden_system_and_non_image_entries(tmp_path, write_images):
    write_images(tmp_path / "cats", 5)
    write_images(tmp_path / "dogs", 5, suffix=".JPG")
    for junk in ("__MACOSX", ".hidden", "__pycache__", "@eaDir"):
        write_images(tmp_path / junk, 2)
    (tmp_path / "cats" / "notes.txt").write_text("hi")
    (tmp_path / "cats" / ".DS_Store").write_bytes(b"")
    (tmp_path / "README.md").write_text("top-level files are not classes")
    listing = scan_folder(tmp_path, 0.2, seed=0)
    assert listing.layout == "classes" and listing.classes == ["cats", "dogs"]
    assert [(s.path.name, s.reason) for s in listing.ignored] == [("notes.txt", "not an image file")]
    assert len(listing.train) + len(listing.val) == 10


def test_split_is_stratified_seeded_and_keeps_a_training_image(tmp_path, write_images):
    write_images(tmp_path / "a", 10)
    write_images(tmp_path / "b", 20)
    write_images(tmp_path / "c", 1)
    listing = scan_folder(tmp_path, 0.3, seed=1)
    val_per_class = [sum(s.label == k for s in listing.val) for k in range(3)]
    assert val_per_class == [3, 6, 0]
    assert sum(s.label == 2 for s in listing.train) == 1
    assert set(listing.train).isdisjoint(listing.val)
    assert _names(scan_folder(tmp_path, 0.3, seed=1).val) == _names(listing.val)
    assert _names(scan_folder(tmp_path, 0.3, seed=2).val) != _names(listing.val)


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_broken_links_are_ignored_and_loops_do_not_hang(tmp_path, write_images):
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "b", 2)
    (tmp_path / "a" / "gone.png").symlink_to(tmp_path / "missing.png")
    (tmp_path / "b" / "loop").symlink_to(tmp_path / "b")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    listing = scan_folder(tmp_path, 0.5, seed=0)
    assert listing.classes == ["a", "b"]
    assert {(s.path.name, s.reason) for s in listing.ignored} == {
        ("gone.png", "broken link"), ("loop", "a folder inside a class folder (not searched)")}


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        scan_folder(tmp_path / "nope", 0.2, seed=0)


def test_no_class_folders_explains_the_layout(tmp_path):
    (tmp_path / "loose.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="no class folders") as info:
        scan_folder(tmp_path, 0.2, seed=0)
    assert f"{tmp_path}/<class>/*.jpg" in str(info.value)


def test_class_without_images_is_named(tmp_path, write_images):
    write_images(tmp_path / "ants", 2)
    (tmp_path / "bees").mkdir()
    (tmp_path / "bees" / "readme.txt").write_text("soon")
    with pytest.raises(DataError, match=f"class 'bees' in {tmp_path} has no images"):
        scan_folder(tmp_path, 0.2, seed=0)


def test_a_single_class_is_not_enough(tmp_path, write_images):
    write_images(tmp_path / "ants", 2)
    with pytest.raises(DataError, match="only one class \\('ants'\\)"):
        scan_folder(tmp_path, 0.2, seed=0)


def test_val_only_class_is_an_error(tmp_path, write_images):
    write_images(tmp_path / "train" / "ants", 2)
    write_images(tmp_path / "val" / "ants", 1)
    write_images(tmp_path / "val" / "bees", 1)
    with pytest.raises(DataError, match="class 'bees' has no training images"):
        scan_folder(tmp_path, 0.2, seed=0)
