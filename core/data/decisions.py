"""The user's decisions about single images, kept beside the data: leave a file out, or give it another class.

Decisions never touch the image files. They live in a small YAML file that the config names
(`data.exclude: decisions.yaml`, `data.relabel: decisions.yaml`), or inline in the config (a list
of paths, a map of path to class), and `list_data` applies them after every source has listed its
files, so each source honours them alike. A decisions file:

    exclude: [data/pets/cat/042.jpg]      # left out of training and validation
    relabel: {data/pets/cat/107.jpg: dog}  # trained and validated as this class
    keep: [data/pets/dog/003.jpg]         # looked at and fine: not suggested again

Paths are as the data source gives them (relative ones from the folder workbench runs in); an
image of a built-in set without a file is named by its split and position, `train[123]`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from core.data.samples import Listing, Sample
from core import safe_yaml
from core.errors import ConfigError, DataError
from core.files import atomic_write
from core.schema import StrictModel

MAX_BYTES = 8 * 2**20  # a decisions file is a reviewed list, not a dataset: larger is a mistake
IN_MEMORY = re.compile(r"^(train|val)\[\d+\]$")  # an image of a built-in set, named by its split and position
HEADER = "# workbench decisions: exclude / relabel / keep per file; the image files themselves are never changed\n"


class Decisions(StrictModel):
    exclude: list[str] = Field(default_factory=list)
    relabel: dict[str, str] = Field(default_factory=dict)
    keep: list[str] = Field(default_factory=list)


def sample_name(sample: Sample, split: str, index: int) -> str:
    """How findings and decisions name a sample: its file, or `split[index]` for an image without one."""
    return str(sample.path) if sample.path is not None else f"{split}[{index}]"


def read_decisions(path: str | Path) -> Decisions:
    """A decisions file, read with the bounded safe loader; DataError when missing, too large or malformed."""
    path = Path(path).expanduser()
    try:  # the one bounded YAML reader: size, aliases and nesting checked before anything is built
        raw = safe_yaml.load(safe_yaml.read_text(path, MAX_BYTES), str(path)) or {}
    except ConfigError as exc:  # say it is the decisions file, not a config
        issue = exc.issues[0]
        raise DataError(f"decisions file {path}{f':{issue.line}' if issue.line else ''}: {issue.message}") from exc
    try:
        return Decisions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise DataError(f"decisions file {path}: {where}: {first['msg']}\n"
                        f"    hint: a mapping of exclude: [paths], relabel: {{path: class}}, keep: [paths]") from exc


def write_decisions(path: Path, decisions: Decisions) -> None:
    """Write `decisions` for the user to review (atomically: a failed write keeps the previous file)."""
    text = HEADER + yaml.safe_dump(decisions.model_dump(), sort_keys=False, allow_unicode=True)
    atomic_write(path, lambda out: out.write(text.encode()))


def decided(exclude: str | list[str] | None, relabel: str | Mapping[str, str] | None) -> Decisions:
    """The decisions a data config gives: each key a decisions file's name, or the list (map) itself."""
    excluded = read_decisions(exclude).exclude if isinstance(exclude, str) else list(exclude or [])
    relabelled = read_decisions(relabel).relabel if isinstance(relabel, str) else dict(relabel or {})
    return Decisions(exclude=excluded, relabel=relabelled)


def apply_decisions(listing: Listing, decisions: Decisions) -> Listing:
    """`listing` without the excluded samples and with the relabelled ones' new classes; DataError for a class
    the data does not have. Decisions naming files the listing lacks are ignored (the file may be gone)."""
    if not decisions.exclude and not decisions.relabel:
        return listing
    index = {name: label for label, name in enumerate(listing.classes)}
    unknown = sorted({name for name in decisions.relabel.values() if name not in index})
    if unknown:
        raise DataError(f"relabel names class {', '.join(repr(name) for name in unknown)}, which the data does not "
                        f"have\n    hint: the classes are {', '.join(listing.classes)}")
    excluded = {key_of(name) for name in decisions.exclude}
    relabelled = {key_of(name): index[label] for name, label in decisions.relabel.items()}

    def decide(samples: list[Sample], split: str) -> list[Sample]:
        kept = []
        for i, sample in enumerate(samples):
            key = key_of(sample_name(sample, split, i))
            if key not in excluded:
                label = relabelled.get(key, sample.label)
                kept.append(sample if label == sample.label else Sample(sample.path, label, sample.array))
        return kept

    return Listing(listing.classes, decide(listing.train, "train"), decide(listing.val, "val"), listing.layout,
                   listing.ignored, listing.skipped_folders)


def key_of(name: str) -> str:
    """How names are compared: by absolute, normalised path (`split[index]` names as they are)."""
    if IN_MEMORY.match(name):
        return name
    return os.path.normpath(os.path.abspath(os.path.expanduser(name)))
