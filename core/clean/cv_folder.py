"""A cross-validation's folder: `runs/.cv/<name>-<time>/` with its fold runs, `cv.json` and `oof.csv`.

The folder is hidden so the run history lists none of its fold runs as runs of their own; each
fold is still an ordinary run folder inside it (evaluate, classify and TensorBoard work on it).
`cv.json` holds the folds' scores and their mean and standard deviation; `oof.csv` one row per
training image: its name (as the data source gives it), its given class, the fold that held it
out, and the out-of-fold probability of every class.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DataError
from core.files import WriteError, atomic_write, atomic_write_json

CV_FOLDERS = ".cv"
OOF_COLUMNS = ("path", "given", "fold")  # then one probability column per class, in the classes' order


@dataclass(frozen=True)
class OutOfFold:
    """Every training image's out-of-fold prediction."""

    classes: list[str]
    paths: list[str]
    given: list[int]  # class indices
    folds: list[int]  # from 1
    probabilities: np.ndarray  # N x classes

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class CvFolder:
    path: Path

    SUMMARY = "cv.json"
    OOF = "oof.csv"

    @classmethod
    def new(cls, runs_dir: Path, name: str) -> CvFolder:
        """A fresh folder `runs_dir/.cv/<name>-<time>` (a suffix when that exists)."""
        root = runs_dir / CV_FOLDERS
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, 1000):
                path = root / (f"{name}-{stamp}" + ("" if attempt == 1 else f"-{attempt}"))
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                return cls(path)
        except OSError as exc:
            raise WriteError(f"cannot make a cross-validation folder in {root}: {exc.strerror}") from exc
        raise WriteError(f"no free cross-validation folder name under {root}")

    @property
    def summary_path(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def oof_path(self) -> Path:
        return self.path / self.OOF

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.summary_path, summary)

    def read_summary(self) -> dict[str, Any]:
        try:
            summary = json.loads(self.summary_path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path} is not a finished cross-validation: cannot read {self.SUMMARY}") from exc
        if not isinstance(summary, dict):
            raise DataError(f"{self.summary_path} does not hold a cross-validation summary")
        return summary

    def write_oof(self, oof: OutOfFold) -> None:
        text = io.StringIO()
        out = csv.writer(text)
        out.writerow([*OOF_COLUMNS, *oof.classes])
        for path, given, fold, row in zip(oof.paths, oof.given, oof.folds, oof.probabilities):
            out.writerow([path, oof.classes[given], fold, *(f"{p:.6g}" for p in row)])
        atomic_write(self.oof_path, lambda file: file.write(text.getvalue().encode()))

    def read_oof(self) -> OutOfFold:
        """oof.csv back; DataError when it is missing or malformed."""
        try:
            rows = list(csv.reader(io.StringIO(self.oof_path.read_text())))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"cannot read {self.oof_path}: {exc}") from exc
        if not rows or tuple(rows[0][:len(OOF_COLUMNS)]) != OOF_COLUMNS or len(rows[0]) < len(OOF_COLUMNS) + 2:
            raise DataError(f"{self.oof_path} is not an out-of-fold table (header {', '.join(OOF_COLUMNS)}, classes)")
        classes = rows[0][len(OOF_COLUMNS):]
        index = {name: i for i, name in enumerate(classes)}
        paths, given, folds, probabilities = [], [], [], []
        for number, row in enumerate(rows[1:], start=2):
            try:
                if len(row) != len(rows[0]):
                    raise ValueError(f"{len(row)} columns, not {len(rows[0])}")
                values = [float(value) for value in row[len(OOF_COLUMNS):]]
                if not all(math.isfinite(value) for value in values):
                    raise ValueError("a probability that is not a number")
                label, fold = index[row[1]], int(row[2])
            except ValueError as exc:
                raise DataError(f"{self.oof_path}, line {number}: {exc}") from exc
            except KeyError as exc:
                raise DataError(f"{self.oof_path}, line {number}: class {exc} is not in the header") from exc
            paths.append(row[0])
            given.append(label)
            folds.append(fold)
            probabilities.append(values)
        return OutOfFold(classes, paths, given, folds, np.array(probabilities, dtype=np.float64).reshape(-1, len(classes)))


def latest_cv(runs_dir: Path, name: str) -> CvFolder | None:
    """The newest cross-validation of the config named `name` in `runs_dir` that has out-of-fold rows."""
    root = runs_dir / CV_FOLDERS
    found = [CvFolder(path) for path in root.glob(f"{name}-*") if (path / CvFolder.OOF).is_file()] \
        if root.is_dir() else []
    named = [folder for folder in found if _summary_name(folder) == name]
    return max(named, key=lambda folder: folder.oof_path.stat().st_mtime_ns, default=None)


def _summary_name(folder: CvFolder) -> str | None:
    try:
        return str(folder.read_summary().get("name"))
    except DataError:
        return None
