"""Reviewing a cross-validation's findings image by image: what marking one keep, exclude or relabel decides.

The Data screen's Issues view reads through here: `load_review` gathers the findings of the
config's latest cross-validation with every listed image (to show them) and the decisions made so
far; `marked` and `redecided` turn a mark into the decisions file's new content, which never
touches an image file; `class_counts` before and after `apply_decisions` show the effect.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from core.clean.cv_folder import latest_cv
from core.clean.duplicates import Listed, listed_images
from core.clean.findings import Findings, from_cv
from core.config import DataConfig, RunConfig
from core.data.decisions import Decisions, decided, key_of, read_decisions
from core.data.images import image_from_array, open_image
from core.data.samples import Listing
from core.data.sources import list_data
from core.prepare.workspace import is_example

Choice = Literal["keep", "exclude", "relabel"]


@dataclass(frozen=True)
class Finding:
    """One entry of the list, as the view acts on it: its files, their given classes and what is suspected."""

    kind: Literal["label", "duplicate", "outlier"]
    paths: list[str]  # as the data source names them; a duplicate group's first copy is the one to keep
    classes: list[str]  # each file's given class
    about: str  # what is suspected, in words
    suggested: str | None = None  # a label issue's likely class


@dataclass(frozen=True)
class Review:
    """The findings to review, every listed image by name, the files' own listing and the decisions so far."""

    findings: list[Finding]
    evidence: str
    images: dict[str, Listed]  # by the name findings and decisions use, before any decision
    files: Listing  # as the sources list it, no decision applied: the "before" of the class counts
    decisions: Decisions


def findings_list(findings: Findings, images: dict[str, Listed]) -> list[Finding]:
    """Every finding, label issues first, then duplicate groups, then outliers, each kind ranked."""
    listed = [Finding("label", [i.path], [i.given], f"given {i.given}, likely {i.suggested} ({i.score:.2f})",
                      i.suggested) for i in findings.label_issues]
    for group in findings.duplicates:
        where = ", ".join(filter(None, ["train and val" if group.across_splits else "",
                                        "two labels" if group.across_classes else ""])) or "one class"
        listed.append(Finding("duplicate", list(group.paths), list(group.classes), f"{group.kind} copies, {where}"))
    listed += [Finding("outlier", [o.path], [images[o.path].label if o.path in images else "?"],
                       f"far from every class ({o.score:.2f})") for o in findings.outliers]
    return listed


def marked(finding: Finding, choice: Choice, label: str | None = None) -> Decisions:
    """What marking `finding` keep, exclude or relabel (to `label`) decides for its files.

    A duplicate group keeps its first copy (the training one of a leak) and leaves the others out;
    one picture under two labels has no right copy, so exclude leaves out every one of them.
    Relabelling a file to the class it already has is keeping it.
    """
    if choice == "keep":
        return Decisions(keep=finding.paths)
    first, copies = finding.paths[0], finding.paths[1:]
    if choice == "exclude":
        whole = finding.kind != "duplicate" or len(set(finding.classes)) > 1
        return Decisions(exclude=finding.paths if whole else copies)
    if label is None or label == finding.classes[0]:
        return Decisions(exclude=copies, keep=[first])
    return Decisions(exclude=copies, relabel={first: label})


def redecided(decisions: Decisions, finding: Finding, new: Decisions) -> Decisions:
    """`decisions` with the finding's files decided anew: their earlier decisions dropped, `new`'s added."""
    own = {key_of(path) for path in finding.paths}

    def others(names: list[str]) -> list[str]:
        return [name for name in names if key_of(name) not in own]

    relabel = {name: label for name, label in decisions.relabel.items() if key_of(name) not in own}
    return Decisions(exclude=others(decisions.exclude) + new.exclude, relabel=relabel | new.relabel,
                     keep=others(decisions.keep) + new.keep)


def decision_states(decisions: Decisions) -> dict[str, str]:
    """Each decided file's state by key: "excluded", "→ class" or "kept" (an exclusion wins, as in the listing)."""
    states = {key_of(name): "kept" for name in decisions.keep}
    states |= {key_of(name): f"→ {label}" for name, label in decisions.relabel.items()}
    return states | {key_of(name): "excluded" for name in decisions.exclude}


def class_counts(listing: Listing) -> dict[str, tuple[int, int]]:
    """Each class's (train, val) image counts."""
    train = Counter(sample.label for sample in listing.train)
    val = Counter(sample.label for sample in listing.val)
    return {name: (train[i], val[i]) for i, name in enumerate(listing.classes)}


def decisions_target(data: DataConfig) -> str | None:
    """The decisions file the data config names: its exclude's, else its relabel's."""
    return next((value for value in (data.exclude, data.relabel) if isinstance(value, str)), None)


def new_decisions_path(config_path: Path | None, name: str) -> Path:
    """A decisions file beside the config (in the working folder for an unsaved or example config), numbered
    rather than over a file that is there."""
    folder = config_path.parent if config_path is not None and not is_example(config_path) else Path.cwd()
    for attempt in range(1, 1000):
        candidate = folder / f"{name}-decisions{'' if attempt == 1 else f'-{attempt}'}.yaml"
        if not candidate.exists():
            return candidate
    return folder / f"{name}-decisions.yaml"


def config_value(path: Path) -> str:
    """How the config names a file: relative to the working folder (where data paths are read from) when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def current_decisions(data: DataConfig) -> Decisions:
    """The decisions the data config gives, with the files each of its decisions files marks keep."""
    given = decided(data.exclude, data.relabel)
    files = dict.fromkeys(value for value in (data.exclude, data.relabel) if isinstance(value, str))
    keep = [name for path in files for name in read_decisions(path).keep]
    return Decisions(exclude=given.exclude, relabel=given.relabel, keep=list(dict.fromkeys(keep)))


def load_review(config: RunConfig, runs_dir: Path) -> Review | None:
    """The findings of the config's latest cross-validation in `runs_dir`; None when it has none."""
    folder = latest_cv(runs_dir, config.name)
    if folder is None:
        return None
    files = list_data(config.data.model_copy(update={"exclude": None, "relabel": None, "fold": None}), config.seed)
    images = {image.name: image for image in listed_images(files)}
    findings = from_cv(config, folder)
    return Review(findings_list(findings, images), findings.evidence, images, files, current_decisions(config.data))


def thumbnail(image: Listed) -> Image.Image:
    """A listed image decoded for showing (DataError when it cannot be read)."""
    sample = image.sample
    if sample.path is not None:
        return open_image(sample.path)
    assert sample.array is not None  # a sample is a file or an array
    return image_from_array(sample.array)
