"""What `workbench clean` (and a screen) shows: the data's label issues, duplicates and outliers, typed.

`from_cv` reads a cross-validation's out-of-fold probabilities (the trustworthy evidence);
`from_model` predicts with a trained model instead (weaker for label issues and outliers: the
model has seen the training images), and also measures how much leaked validation images
inflate its validation accuracy. Both find duplicates on the config's current listing, and both
leave out what the user's decisions already settled (excluded, relabelled or marked keep).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.clean.cv_folder import CvFolder
from core.clean.duplicates import DuplicateGroup, Listed, find_duplicates, listed_images
from core.clean.label_issues import LabelIssue, find_label_issues
from core.clean.outliers import Outlier, find_outliers
from core.config import RunConfig
from core.data.decisions import Decisions, key_of, read_decisions
from core.data.sources import list_data
from core.errors import DataError
from core.use.inference import Classifier

Progress = Callable[[str, int, int], None]  # (stage, done, total)
WEAKER = ("a model's predictions on images it trained on (weaker than `workbench cv`'s out-of-fold predictions: "
          "it agrees with their labels more than it should)")


@dataclass(frozen=True)
class Leakage:
    """How much validation images with a copy in training inflate a model's validation accuracy."""

    leaked: int  # validation images in a group across splits
    val: int  # validation images
    accuracy: float  # on every validation image
    accuracy_without: float  # without the leaked ones

    @property
    def inflation(self) -> float:
        return self.accuracy - self.accuracy_without


@dataclass(frozen=True)
class Findings:
    label_issues: list[LabelIssue]
    duplicates: list[DuplicateGroup]
    outliers: list[Outlier]
    evidence: str  # what the label issues and outliers come from, in words
    leakage: Leakage | None = None  # with a model only
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The `workbench clean --json` object: each list ranked, paths as the data source gives them."""
        return {
            "label_issues": [{"path": i.path, "given": i.given, "suggested": i.suggested, "score": i.score}
                             for i in self.label_issues],
            "duplicates": [{"paths": list(g.paths), "kind": g.kind, "across_splits": g.across_splits}
                           for g in self.duplicates],
            "outliers": [{"path": o.path, "score": o.score} for o in self.outliers],
        }

    def rows(self) -> list[list[str]]:
        """The findings as CSV rows (header first): one row per image, a duplicate group's members sharing its number."""
        rows = [["finding", "path", "given", "suggested", "score", "group", "across_splits"]]
        rows += [["label_issue", i.path, i.given, i.suggested, f"{i.score:.4f}", "", ""] for i in self.label_issues]
        rows += [[f"{g.kind}_duplicate", path, label, "", "", str(number), str(g.across_splits).lower()]
                 for number, g in enumerate(self.duplicates, start=1) for path, label in zip(g.paths, g.classes)]
        rows += [["outlier", o.path, "", "", f"{o.score:.4f}", "", ""] for o in self.outliers]
        return rows

    def suggested_decisions(self) -> Decisions:
        """Decisions for the user to review: relabel label issues, leave out outliers, one copy of each duplicate
        kept (the training one for a leak), and none of a picture that carries two labels."""
        exclude: list[str] = []
        for group in self.duplicates:
            exclude += group.paths if group.across_classes else group.paths[1:]
        exclude += [outlier.path for outlier in self.outliers]
        relabel = {issue.path: issue.suggested for issue in self.label_issues if issue.path not in exclude}
        return Decisions(exclude=list(dict.fromkeys(exclude)), relabel=relabel)


def from_cv(config: RunConfig, folder: CvFolder, progress: Progress | None = None) -> Findings:
    """Findings from a cross-validation's out-of-fold probabilities, for the config's current data."""
    oof = folder.read_oof()
    listing = list_data(config.data, config.seed)
    if listing.classes != oof.classes:
        raise DataError(f"{folder.path} cross-validated the classes {', '.join(oof.classes)}; the data now has "
                        f"{', '.join(listing.classes)}\n    hint: run workbench cv again")
    images = listed_images(listing)
    current = {image.name: image for image in images if image.split == "train"}
    rows = [i for i, name in enumerate(oof.paths) if name in current]  # files since excluded drop out
    index = {name: i for i, name in enumerate(oof.classes)}
    paths = [oof.paths[i] for i in rows]
    given = [index[current[name].label] for name in paths]  # relabelled since: judged by the new class
    evidence = f"the out-of-fold predictions of {folder.path}"
    return _findings(config, images, paths, given, oof.probabilities[rows], oof.classes, evidence, progress)


def from_model(config: RunConfig, classifier: Classifier, progress: Progress | None = None) -> Findings:
    """Findings from `classifier`'s predictions on the config's data (training and validation images)."""
    from core.clean.predictions import penultimate_features, probabilities

    images = listed_images(list_data(config.data, config.seed))
    index = {name: i for i, name in enumerate(classifier.classes)}
    known = [k for k, image in enumerate(images) if image.label in index]
    predicted, kept = probabilities(classifier, [images[k].sample for k in known], _stage(progress, "predicting"))
    rows = [known[i] for i in kept]  # images with a prediction, by position in `images`
    notes = [f"{len(images) - len(known)} images of classes the model does not know were left out"] \
        if len(known) < len(images) else []
    try:
        found, with_features = penultimate_features(classifier, [image.sample for image in images],
                                                    _stage(progress, "features"))
        features: np.ndarray | None = _rows_for(found.numpy(), with_features, len(images))
    except DataError as exc:
        features, notes = None, [*notes, f"no feature similarity: {exc}"]
    findings = _findings(config, images, [images[k].name for k in rows], [index[images[k].label] for k in rows],
                         predicted.numpy(), classifier.classes, WEAKER, progress, features,
                         None if features is None else features[rows])
    leaked = {name for group in findings.duplicates if group.across_splits for name in group.paths}
    leakage = _leakage([(images[k].name, int(p.argmax()) == index[images[k].label]) for k, p in zip(rows, predicted)
                        if images[k].split == "val"], leaked)
    return Findings(findings.label_issues, findings.duplicates, findings.outliers, findings.evidence, leakage, notes)


def _findings(config: RunConfig, images: list[Listed], paths: list[str], given: list[int], predicted: np.ndarray,
              classes: list[str], evidence: str, progress: Progress | None, features: np.ndarray | None = None,
              row_features: np.ndarray | None = None) -> Findings:
    """`features`: every image's (for near duplicates); `row_features`: those of the predicted rows (for outliers)."""
    keep = _kept(config)
    issues = [i for i in find_label_issues(paths, given, predicted, classes) if key_of(i.path) not in keep]
    outliers = [o for o in find_outliers(paths, given, predicted, row_features) if key_of(o.path) not in keep]
    groups = [g for g in find_duplicates(images, features=features, progress=_stage(progress, "hashing images"))
              if not {key_of(path) for path in g.paths} <= keep]
    return Findings(issues, groups, outliers, evidence)


def _kept(config: RunConfig) -> set[str]:
    """The files the user marked keep in the config's decisions file(s)."""
    files = {value for value in (config.data.exclude, config.data.relabel) if isinstance(value, str)}
    return {key_of(name) for path in files for name in read_decisions(path).keep}


def _rows_for(features: np.ndarray, kept: list[int], count: int) -> np.ndarray:
    """Features for every image: zeros (similar to nothing) for the unreadable ones."""
    full = np.zeros((count, features.shape[1]), dtype=np.float32)
    full[kept] = features
    return full


def _leakage(val: list[tuple[str, bool]], leaked: set[str]) -> Leakage | None:
    """Accuracy on the validation images with and without the leaked ones; None when none leaked."""
    if not val or not any(name in leaked for name, _ in val):
        return None
    clean = [right for name, right in val if name not in leaked]
    return Leakage(len(val) - len(clean), len(val), sum(right for _, right in val) / len(val),
                   sum(clean) / len(clean) if clean else 0.0)


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    return None if progress is None else (lambda done, total: progress(stage, done, total))
