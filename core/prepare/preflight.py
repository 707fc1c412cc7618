"""Checks a config before any training: which classes, what input shape, do the layers fit."""
from __future__ import annotations

from core.config import RunConfig
from core.model.build import check_for
from core.model.stack import StackReport


def config_classes(config: RunConfig) -> list[str]:
    """The class names the config's data source gives, without decoding any image."""
    from core.data.sources import class_names

    return class_names(config.data, config.seed)


def input_shape(config: RunConfig) -> tuple[int, int, int]:
    """(channels, height, width) of one preprocessed image."""
    return (config.data.channels, *config.data.image_size)


def check_config_model(config: RunConfig, num_classes: int) -> StackReport:
    """The layer table for the config's model on its input shape, with the budget checked for a batch."""
    return check_for(config.model, input_shape(config), num_classes, config.data.planned_batch_size)
