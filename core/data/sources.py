"""The data-source table, and from a data config to a listing: every source, and several combined.

A source is a name, a pydantic model of the keys it takes (beside `data.source`, flat in the
data section), how it lists its files, how it names its classes without decoding anything, and
one line of help. The config derives `data.source` and its keys from `SOURCES`, `list_data` and
`class_names` look names up in it, docs/config.md lists it (`core.data.reference`), and the Data
screen builds its choices from it. Adding a source is one entry here; its scanning code lives in
a module of its own (`folder.py`, `labelled.py`, `builtin.py`, `shapes.py`), imported when used.

This module imports no config at run time: core.config builds its data section from the table.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, create_model, field_validator, model_validator
from pydantic_core import PydanticUndefined

from core.data.decisions import apply_decisions, decided
from core.data.folds import hold_out
from core.data.samples import Listing, check_classes, combine
from core.errors import DataError
from core.schema import StrictModel

if TYPE_CHECKING:
    from core.config import DataConfig, SourceConfig

PATH_HELP = "the folder or file the source reads; relative to the folder workbench runs in"


class SourceKeys(StrictModel):
    """The keys every source takes: where its images are. Each source's model adds its own."""

    path: str = Field(description=PATH_HELP)

    @property
    def root(self) -> Path:
        """The absolute folder or file `path` names."""
        return Path(self.path).expanduser().absolute()


Scan = Callable[[Any, "DataConfig", int], Listing]  # (the source's keys, the data section, seed) -> listing
ClassNames = Callable[[Any], "list[str] | None"]  # the source's keys -> its classes; None: list the files to know


@dataclass(frozen=True)
class Source:
    name: str
    keys: type[SourceKeys]  # the keys this source takes, with types, defaults and descriptions
    scan: Scan  # lists (never decodes) the samples; DataError when unusable
    help: str
    classes: ClassNames | None = None  # its class names without decoding, generating or downloading; None: list
    reads_file: bool = False  # path names a file (a run is named after its stem), not a folder

    def keys_of(self, config: SourceConfig) -> SourceKeys:
        """This source's keys from a config's flat data section (the others' keys left out)."""
        given = {key: getattr(config, key) for key in self.keys.model_fields}
        return self.keys.model_validate({key: value for key, value in given.items() if value is not None})

    @property
    def needs_path(self) -> bool:
        """Whether it reads the person's own files at a path they give, rather than a set with a place of its own."""
        return self.keys.model_fields["path"].is_required()

    def needs_only_a_path(self) -> bool:
        """Whether a path (or nothing, for a set with a place of its own) is all this source needs."""
        try:
            self.keys.model_validate({"path": "."} if self.needs_path else {})
        except ValidationError:
            return False
        return True


class SourceTable:
    """The data sources, in the order the docs and the Data screen show them."""

    def __init__(self, default: str, entries: Iterable[Source]) -> None:
        self.default = default
        self._entries: dict[str, Source] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Source) -> None:
        """Register a source; before core.config is imported, which reads the table once."""
        self._entries[entry.name] = entry

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __getitem__(self, name: str) -> Source:
        return self._entries[name]

    def __iter__(self) -> Iterator[Source]:
        return iter(self._entries.values())

    def flat_keys(self) -> dict[str, Any]:
        """Every source's keys, flat as the data section holds them: name -> the value meaning "not given".

        That is the default the sources taking the key agree on (download: false), else None.
        """
        defaults: dict[str, list[Any]] = {}
        for entry in self:
            for key, info in entry.keys.model_fields.items():
                default = None if info.default is PydanticUndefined else info.default
                if default not in defaults.setdefault(key, []):
                    defaults[key].append(default)
        return {key: values[0] if len(values) == 1 else None for key, values in defaults.items()}

    def taking(self, key: str) -> list[str]:
        """The sources that take `key`."""
        return [entry.name for entry in self if key in entry.keys.model_fields]

    def flat_fields(self) -> dict[str, Any]:
        """The data section's source keys as pydantic field definitions: the first taker's type, optional."""
        fields: dict[str, Any] = {}
        for key, unset in self.flat_keys().items():
            info = next(entry.keys.model_fields[key] for entry in self if key in entry.keys.model_fields)
            assert info.annotation is not None  # every key of a source is annotated
            annotation = info.annotation if unset is not None else info.annotation | None
            fields[key] = (annotation, Field(unset, description=info.description))
        return fields


class ShapesKeys(SourceKeys):
    path: str = Field("data/shapes", description="where the images are generated (once, and again when "
                                                 "`data.shapes` changes)")


class FolderKeys(SourceKeys):
    path: str = Field(description="a folder of class folders (`path/cat/*.jpg`), or of `train/` and `val/` "
                                  "folders of them", examples=["path/to/images"])
    label: str | None = Field(None, description="every image directly in path is this class (the tutorial's "
                                                "`Mydata(root, \"ants\")`)")


class CsvKeys(SourceKeys):
    path: str = Field(description="a CSV file of `path,label` rows", examples=["path/to/labels.csv"])


class FilenameKeys(SourceKeys):
    path: str = Field(description="a folder of images (or `train/` and `val/` folders of them)",
                      examples=["path/to/images"])
    separator: str | None = Field(None, min_length=1, description="the label is the file name before it "
                                                                  "(`cat_001.jpg` -> `cat`)")
    pattern: str | None = Field(None, description="a regex with a `(?P<label>...)` group, searched in the file name")

    @field_validator("pattern")
    @classmethod
    def _label_group(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if "label" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<label>...)")
        return pattern

    @model_validator(mode="after")
    def _one_rule(self) -> "FilenameKeys":
        if (self.separator is None) == (self.pattern is None):
            raise ValueError("source 'filename' needs exactly one of separator (e.g. '_') or pattern")
        return self


class BuiltinKeys(SourceKeys):
    download: bool = Field(False, description="fetch the set into path when it is missing (needs internet)")


def _builtin_keys(name: str) -> type[BuiltinKeys]:
    """A torchvision set's keys: its path defaults to data/<name>."""
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Keys"
    return create_model(model_name, __base__=BuiltinKeys,
                        path=(str, Field(f"data/{name}", description="the root of torchvision's layout of the set")))


def _scan_shapes(keys: ShapesKeys, data: DataConfig, seed: int) -> Listing:
    from core.data.folder import scan_folder
    from core.data.shapes import ensure_shapes

    ensure_shapes(keys.root, data.shapes)
    return scan_folder(keys.root, data.val_split, seed)


def _shape_names(keys: ShapesKeys) -> list[str]:
    from core.data.shapes import SHAPE_CLASSES

    return sorted(SHAPE_CLASSES)


def _scan_folder(keys: FolderKeys, data: DataConfig, seed: int) -> Listing:
    from core.data.folder import scan_folder, scan_labelled

    root = keys.root
    if keys.label is not None:
        return scan_labelled(root, keys.label, data.val_split, seed)
    if not root.exists():
        raise DataError(f"data folder {root} does not exist\n"
                        f"    hint: set data.path to a folder of class folders ({root}/<class>/*.jpg), "
                        f"or use data.source: shapes for the built-in dataset")
    return scan_folder(root, data.val_split, seed)


def _scan_csv(keys: CsvKeys, data: DataConfig, seed: int) -> Listing:
    from core.data.labelled import scan_csv

    return scan_csv(keys.root, data.val_split, seed)


def _scan_filenames(keys: FilenameKeys, data: DataConfig, seed: int) -> Listing:
    from core.data.labelled import scan_filenames

    return scan_filenames(keys.root, data.val_split, seed, separator=keys.separator, pattern=keys.pattern)


def _builtin(name: str, title: str) -> Source:
    def scan(keys: BuiltinKeys, data: DataConfig, seed: int) -> Listing:
        from core.data.builtin import load_builtin

        return load_builtin(name, keys.root, download=keys.download)

    def classes(keys: BuiltinKeys) -> list[str] | None:
        """Numbered placeholders of the right count while the set is not downloaded."""
        from core.data.builtin import class_count, is_present

        return None if is_present(name, keys.root) else [str(i) for i in range(class_count(name))]

    return Source(name, _builtin_keys(name), scan, f"{title} (torchvision)", classes)


SOURCES = SourceTable("shapes", [
    Source("shapes", ShapesKeys, _scan_shapes, "the built-in demo: drawn shapes in 5 classes, generated",
           _shape_names),
    Source("folder", FolderKeys, _scan_folder, "a folder of class folders"),
    Source("csv", CsvKeys, _scan_csv, "a CSV file of path,label rows (paths relative to it)", reads_file=True),
    Source("filename", FilenameKeys, _scan_filenames, "images labelled by their file names"),
    _builtin("cifar10", "CIFAR-10: 32x32 colour photos, 10 classes"),
    _builtin("cifar100", "CIFAR-100: 32x32 colour photos, 100 classes"),
    _builtin("mnist", "MNIST: 28x28 handwritten digits"),
    _builtin("fashion_mnist", "Fashion-MNIST: 28x28 pictures of clothes"),
])


def list_data(config: DataConfig, seed: int) -> Listing:
    """List (never decode) the samples of `config`'s source(s); DataError when unusable.

    Relative paths are relative to the working directory. The shapes set is generated and
    torchvision sets downloaded (with download: true) on first use. Every source's listing passes
    here: the user's decisions (data.exclude, data.relabel) apply to all alike, and data.fold makes
    one cross-validation fold of the training pool the validation set.
    """
    parts = config.sources or [config]
    listing = combine([_list_one(part, config, seed) for part in parts])
    where = ", ".join(str(root_of(part)) for part in parts)
    check_classes(listing.classes, where, "a classifier needs images of at least two classes")
    listing = apply_decisions(listing, decided(config.exclude, config.relabel))
    return listing if config.fold is None else hold_out(listing, config.fold, seed)


def root_of(source: SourceConfig) -> Path:
    """The absolute folder or file a source reads."""
    assert source.path is not None  # validation gave every source its path (only "combined" has none)
    return Path(source.path).expanduser().absolute()


def _list_one(source: SourceConfig, config: DataConfig, seed: int) -> Listing:
    entry = SOURCES[source.source]
    return entry.scan(entry.keys_of(source), config, seed)


def class_names(config: DataConfig, seed: int) -> list[str]:
    """The classes `config` gives, without decoding, generating or downloading anything where the source can."""
    if not config.sources:
        entry = SOURCES[config.source]
        names = entry.classes(entry.keys_of(config)) if entry.classes else None
        if names is not None:
            return names
    return list_data(config, seed).classes
