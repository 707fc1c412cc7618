"""From a data config to a listing: every source, and several combined into one dataset."""
from __future__ import annotations

from pathlib import Path

from core.config import TORCHVISION_SOURCES, DataConfig, SourceConfig
from core.data.samples import Listing, check_classes, combine
from core.errors import DataError


def list_data(config: DataConfig, seed: int) -> Listing:
    """List (never decode) the samples of `config`'s source(s); DataError when unusable.

    Relative paths are relative to the working directory. The shapes set is generated and
    torchvision sets downloaded (with download: true) on first use.
    """
    parts = config.sources or [config]
    listing = combine([_list_one(part, config, seed) for part in parts])
    where = ", ".join(str(root_of(part)) for part in parts)
    check_classes(listing.classes, where, "a classifier needs images of at least two classes")
    return listing


def root_of(source: SourceConfig) -> Path:
    """The absolute folder or file a source reads."""
    return Path(source.path).expanduser().absolute()


def _list_one(source: SourceConfig, config: DataConfig, seed: int) -> Listing:
    from core.data.folder import scan_folder, scan_labelled
    from core.data.labelled import scan_csv, scan_filenames

    root = root_of(source)
    kind = source.source
    if kind == "shapes":
        from core.data.shapes import ensure_shapes

        ensure_shapes(root, config.shapes)
        return scan_folder(root, config.val_split, seed)
    if kind in TORCHVISION_SOURCES:
        from core.data.builtin import load_builtin

        return load_builtin(kind, root, download=source.download)
    if kind == "csv":
        return scan_csv(root, config.val_split, seed)
    if kind == "filename":
        return scan_filenames(root, config.val_split, seed, separator=source.separator, pattern=source.pattern)
    if source.label is not None:
        return scan_labelled(root, source.label, config.val_split, seed)
    if not root.exists():
        raise DataError(f"data folder {root} does not exist\n"
                        f"    hint: set data.path to a folder of class folders ({root}/<class>/*.jpg), "
                        f"or use data.source: shapes for the built-in dataset")
    return scan_folder(root, config.val_split, seed)


def class_names(config: DataConfig, seed: int) -> list[str]:
    """The classes `config` gives, without decoding, generating or downloading anything.

    A torchvision set not downloaded yet gives numbered placeholders of the right count.
    """
    if config.source == "shapes":
        from core.data.shapes import SHAPE_CLASSES

        return sorted(SHAPE_CLASSES)
    if config.source in TORCHVISION_SOURCES:
        from core.data.builtin import class_count, is_present

        if not is_present(config.source, root_of(config)):
            return [str(i) for i in range(class_count(config.source))]
    return list_data(config, seed).classes
