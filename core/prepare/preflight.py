"""Checks a config before any training: which classes, what input shape, do the layers fit."""
from __future__ import annotations

from dataclasses import replace

from core.config import RunConfig
from core.errors import ShapeError
from core.model.build import check_for, error_at
from core.model.registry import parse_stack
from core.model.stack import StackReport
from core.recipe.losses import last_layer_warning


def config_classes(config: RunConfig) -> list[str]:
    """The class names the config's data source gives, without decoding any image."""
    from core.data.sources import class_names

    return class_names(config.data, config.seed)


def input_shape(config: RunConfig) -> tuple[int, int, int]:
    """(channels, height, width) of one preprocessed image."""
    return (config.data.channels, *config.data.image_size)


def check_config_model(config: RunConfig, num_classes: int) -> StackReport:
    """The layer table for the config's model on its input shape, with the budget checked for a batch, and
    what the loss makes of its last layer among the warnings."""
    report = check_for(config.model, input_shape(config), num_classes, config.data.planned_batch_size)
    return replace(report, error=report.error or crop_error(config, num_classes),
                   warnings=[*report.warnings, *loss_warnings(config)])


def crop_error(config: RunConfig, num_classes: int) -> ShapeError | None:
    """Why the model cannot train on data.augment.random_crop_size's crops (smaller than what it validates on)."""
    crop = config.data.augment.random_crop_size
    if crop is None or tuple(crop) == tuple(config.data.image_size):
        return None
    error = error_at(config.model, input_shape(config), (config.data.channels, *crop), num_classes)
    if error is None:
        return None
    return ShapeError(f"data.augment.random_crop_size {list(crop)}: the model cannot train on these crops: {error}\n"
                      "    hint: end the convolutions with adaptiveavgpool2d or adaptivemaxpool2d, which take any "
                      "size, or leave random_crop_size out", layer_index=getattr(error, "layer_index", -1))


def loss_warnings(config: RunConfig) -> list[str]:
    """The loss's warning about the model's last layer (dropout aside), e.g. nll without logsoftmax; none for
    a module of the user's, whose last layer is not known here."""
    model = config.model
    entries = model.layers if model.layers is not None else model.torchvision.append if model.torchvision else None
    if entries is None:
        return []
    kinds = [spec.kind for spec in parse_stack(entries) if spec.kind not in ("dropout", "identity")]
    warning = last_layer_warning(config.train.loss.name, kinds[-1] if kinds else "linear")  # [] is the new head
    return [warning] if warning else []
