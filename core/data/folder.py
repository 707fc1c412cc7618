"""Listing a folder of class folders: `<path>/<class>/*` or `<path>/train|val/<class>/*`.

Only files directly inside a class folder are used (no recursion, so symlink loops are
harmless). Hidden and system folders are never classes (they are listed in `skipped_folders`);
files without an image extension and broken links are listed as ignored.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.data.images import is_image_file
from core.data.samples import Listing, Sample, SkippedFile, split_by_class
from core.errors import DataError

SYSTEM_FOLDERS = frozenset({
    "__MACOSX", "__pycache__", "@eaDir", "$RECYCLE.BIN", "System Volume Information",
    "lost+found", "node_modules",
})


FolderListing = Listing


def scan_folder(path: Path, val_split: float, seed: int) -> FolderListing:
    """List the images of a dataset folder; DataError (with a hint) when it cannot be used.

    With `<path>/train` and `<path>/val` the classes are the union of both, sorted.
    Otherwise every class folder is split: a seeded, stratified `val_split` fraction
    (at least one image when a class has two or more) goes to validation.
    """
    path = Path(path)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"data folder {path} {what}\n    hint: {_LAYOUT_HINT.format(path=path)}")
    if (path / "train").is_dir() and (path / "val").is_dir():
        return _scan_split(path)
    if (path / "train").is_dir():
        raise DataError(f"{path} has a train/ folder but no val/ folder\n"
                        f"    hint: add {path}/val/<class>/ folders, or move the class folders up to {path}/<class>/")
    return _scan_classes(path, val_split, seed)


_LAYOUT_HINT = "expected {path}/<class>/*.jpg or {path}/train/<class>/... and {path}/val/<class>/..."


def _scan_split(path: Path) -> FolderListing:
    skipped: list[SkippedFile] = []
    train_files, ignored = _class_files(path / "train", skipped)
    val_files, val_ignored = _class_files(path / "val", skipped)
    classes = sorted(set(train_files) | set(val_files))
    _check_classes(path, classes)
    for name in classes:
        if name not in train_files:
            raise DataError(f"class '{name}' has no training images: {path / 'train' / name} is missing\n"
                            f"    hint: add images there, or remove {path / 'val' / name}")
    labels = {name: i for i, name in enumerate(classes)}
    train = [Sample(p, labels[c]) for c in classes for p in train_files[c]]
    val = [Sample(p, labels[c]) for c in classes for p in val_files.get(c, [])]
    return FolderListing(classes, train, val, "split", ignored + val_ignored, skipped)


def _scan_classes(path: Path, val_split: float, seed: int) -> FolderListing:
    skipped: list[SkippedFile] = []
    files, ignored = _class_files(path, skipped)
    _check_classes(path, sorted(files))
    listing = split_by_class(files, val_split, seed)
    listing.ignored, listing.skipped_folders = ignored, skipped
    return listing


def scan_labelled(path: Path, label: str, val_split: float, seed: int) -> FolderListing:
    """Every image directly in `path` as class `label` (the tutorial's `Mydata(root, "ants")`)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"data folder {path} {'is not a folder' if path.exists() else 'does not exist'}\n"
                        f"    hint: with label: {label}, path is a folder of that class's images")
    images, ignored = _images_in(path)
    if not images:
        raise DataError(f"class '{label}' has no images in {path}\n    hint: add .jpg/.png files there")
    listing = split_by_class({label: images}, val_split, seed)
    listing.ignored = ignored
    return listing


def _check_classes(path: Path, classes: list[str]) -> None:
    if not classes:
        raise DataError(f"no class folders in {path}\n    hint: {_LAYOUT_HINT.format(path=path)}")
    if len(classes) < 2:
        raise DataError(f"only one class ('{classes[0]}') in {path}; a classifier needs at least 2\n"
                        f"    hint: {_LAYOUT_HINT.format(path=path)}")


def _class_files(parent: Path, skipped: list[SkippedFile] | None = None
                 ) -> tuple[dict[str, list[Path]], list[SkippedFile]]:
    """Image files of every class folder under `parent`, sorted by name; the rest as ignored.

    Hidden and system folders are added to `skipped` with the reason.
    """
    files: dict[str, list[Path]] = {}
    ignored: list[SkippedFile] = []
    for entry in _sorted_entries(parent):
        why = _not_a_class(entry)
        if why is not None:
            if skipped is not None:
                skipped.append(SkippedFile(Path(entry.path), why))
            continue
        if _is_class_folder(entry):
            images, left_out = _images_in(Path(entry.path))
            if not images:
                raise DataError(f"class '{entry.name}' in {parent} has no images\n"
                                f"    hint: add .jpg/.png files to {entry.path}, or remove the folder")
            files[entry.name] = images
            ignored += left_out
    return files, ignored


def _images_in(folder: Path) -> tuple[list[Path], list[SkippedFile]]:
    images: list[Path] = []
    ignored: list[SkippedFile] = []
    for entry in _sorted_entries(folder):
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        if _safe(entry.is_dir):
            ignored.append(SkippedFile(path, "a folder inside a class folder (not searched)"))
        elif not _safe(entry.is_file):
            ignored.append(SkippedFile(path, "broken link"))
        elif not is_image_file(path):
            ignored.append(SkippedFile(path, "not an image file"))
        else:
            images.append(path)
    return images, ignored


def _sorted_entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"cannot list {folder}: {exc.strerror or exc}") from exc


def _not_a_class(entry: os.DirEntry) -> str | None:
    """Why a folder is never a class ("hidden folder", "system folder"), None for anything else."""
    if not _safe(entry.is_dir):
        return None
    if entry.name.startswith("."):
        return "hidden folder"
    return "system folder" if entry.name in SYSTEM_FOLDERS else None


def _is_class_folder(entry: os.DirEntry) -> bool:
    name = entry.name
    return not name.startswith(".") and name not in SYSTEM_FOLDERS and _safe(entry.is_dir)


def _safe(check) -> bool:
    """A DirEntry check that treats an unreadable entry (e.g. a symlink loop) as False."""
    try:
        return check()
    except OSError:
        return False
