"""Checks a config before any training: which classes, what input shape, do the layers fit."""
from __future__ import annotations

from pathlib import Path

from core.config import RunConfig
from core.model.registry import parse_stack
from core.model.stack import StackReport, check_stack


def config_classes(config: RunConfig) -> list[str]:
    """The class names the config's data source gives, without decoding any image."""
    if config.data.source == "shapes":
        from core.data.shapes import SHAPE_CLASSES

        return list(SHAPE_CLASSES)
    from core.data.folder import scan_folder

    return scan_folder(Path(config.data.path), config.data.val_split, config.seed).classes


def input_shape(config: RunConfig) -> tuple[int, int, int]:
    """(channels, height, width) of one preprocessed image."""
    return (config.data.channels, *config.data.image_size)


def check_config_model(config: RunConfig, num_classes: int) -> StackReport:
    """The layer table for the config's model on its input shape."""
    specs = parse_stack(config.model.layers, path=("model", "layers"))
    return check_stack(specs, input_shape(config), num_classes)
