"""Labels that are not folders: a CSV file of `path,label` rows, or the label in the file name."""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from core.data.folder import _images_in
from core.data.images import is_image_file
from core.data.samples import Listing, Sample, SkippedFile, split_by_class
from core.errors import DataError, clip


def scan_csv(path: Path, val_split: float, seed: int) -> Listing:
    """Rows `path,label` (an optional header row `path,label`); paths are relative to the CSV file.

    Rows naming a missing or non-image file are listed as ignored; a malformed row, a field past csv's
    limit or bytes that are not UTF-8 are a DataError naming the file and line.
    """
    path = Path(path)
    groups: dict[str, list[Path]] = {}
    ignored: list[SkippedFile] = []
    for line, row in _rows(path):
        if not row or (line == 1 and [c.strip().lower() for c in row] == ["path", "label"]):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{path}:{line}: expected `path,label`, got {clip(','.join(row))!r}\n"
                            f"    hint: one image per row, e.g. images/001.jpg,cat")
        image = path.parent / row[0].strip()
        reason = _unusable(image)
        if reason:
            ignored.append(SkippedFile(image, reason))
        else:
            groups.setdefault(row[1].strip(), []).append(image)
    listing = split_by_class(groups, val_split, seed)
    listing.ignored = ignored
    return listing


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The label file's rows with their line numbers."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the label file {path}: {exc.strerror or exc}\n"
                        f"    hint: data.path names a CSV file of `path,label` rows") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset {exc.start})\n"
                        f"    hint: save the label file as UTF-8") from None
    reader = csv.reader(text.splitlines())
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not a CSV row ({exc})\n"
                        f"    hint: one image per row, e.g. images/001.jpg,cat") from None


def scan_filenames(path: Path, val_split: float, seed: int, *, separator: str | None = None,
                   pattern: str | None = None) -> Listing:
    """Images directly in `path` (or in `path/train` and `path/val`), labelled from their names.

    With `separator` the label is the part of the name before it (`cat_001.jpg` -> cat); with
    `pattern` it is the regex's `label` group (searched in the file name). Names that give no
    label are listed as ignored.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"data folder {path} {'is not a folder' if path.exists() else 'does not exist'}\n"
                        f"    hint: source 'filename' reads images such as {path}/cat_001.jpg")
    if (path / "train").is_dir() and (path / "val").is_dir():
        train = _label_names(path / "train", separator, pattern)
        val = _label_names(path / "val", separator, pattern)
        classes = sorted(train[0])
        index = {name: i for i, name in enumerate(classes)}
        unknown = sorted(set(val[0]) - set(classes))
        if unknown:
            raise DataError(f"class '{unknown[0]}' has validation images in {path / 'val'} but no training images")
        return Listing(classes, [Sample(p, index[c]) for c in classes for p in train[0][c]],
                       [Sample(p, index[c]) for c in sorted(val[0]) for p in val[0][c]], "split", train[1] + val[1])
    groups, ignored = _label_names(path, separator, pattern)
    listing = split_by_class(groups, val_split, seed)
    listing.ignored = ignored
    return listing


def _label_names(folder: Path, separator: str | None, pattern: str | None) -> tuple[dict[str, list[Path]], list[SkippedFile]]:
    images, ignored = _images_in(folder)
    ignored = [s for s in ignored if s.reason != "a folder inside a class folder (not searched)"]
    regex = re.compile(pattern) if pattern else None
    groups: dict[str, list[Path]] = {}
    for image in images:
        if regex is not None:
            match = regex.search(image.name)
            label = match.group("label") if match else None
            why = "file name does not match data.pattern"
        else:
            assert separator is not None  # the config takes exactly one of separator and pattern
            stem, found, _ = image.stem.partition(separator)
            label = stem if found else None
            why = f"no {separator!r} in the file name"
        if label:
            groups.setdefault(label, []).append(image)
        else:
            ignored.append(SkippedFile(image, why))
    return groups, ignored


def _unusable(image: Path) -> str | None:
    if not is_image_file(image):
        return "not an image file"
    if not image.is_file():
        return "listed in the label file but missing"
    return None
