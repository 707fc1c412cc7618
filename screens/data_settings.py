"""The Data screen's settings form, generated from the config schema and the data-source table.

First the chosen source's own keys (core.data.sources.SOURCES: path and whatever else it takes,
or the list of sources for `combined`), then every other key of the data section (image size,
resizing, channels, normalisation, validation split, errors, caching), then its nested sections
(augmentation, the loader, and the demo's generation when the source is shapes). The batch size
is the Train screen's.
"""
from __future__ import annotations

from typing import Any, Callable

from textual.app import ComposeResult

from core.config import AugmentConfig, DataConfig, LoaderConfig, ShapesOptions
from core.data.sources import SOURCES
from screens.param_dialogs import KeyPath, SchemaForm, heading

COMBINED = "combined"
SECTIONS = (("augment", AugmentConfig), ("loader", LoaderConfig), ("shapes", ShapesOptions))  # nested, in this order
ON_OTHER_SCREENS = ("batch_size",)


def source_keys(source: str) -> tuple[str, ...]:
    """The data keys that say where `source`'s images are."""
    return ("sources",) if source == COMBINED else tuple(SOURCES[source].keys.model_fields)


def other_keys() -> tuple[str, ...]:
    """The data section's keys that are neither a source's, nor a nested section, nor another screen's."""
    taken = {"source", "sources", *SOURCES.flat_keys(), *(name for name, _ in SECTIONS), *ON_OTHER_SCREENS}
    return tuple(key for key in DataConfig.model_fields if key not in taken)


class EditData(SchemaForm):
    """Every data setting, for `source` (the config's own, or one being switched to); dismisses True once saved.

    `config` is the plain config; `apply(source, values)` gets the source and every field's value by
    key path and raises ConfigError when they are not valid.
    """

    def __init__(self, config: dict[str, Any], source: str,
                 apply: Callable[[str, dict[KeyPath, Any]], None]) -> None:
        super().__init__("Data settings", _with_source(config, source), lambda values: apply(source, values))
        self.source = source

    def compose_sections(self) -> ComposeResult:
        if self.source == COMBINED:
            yield heading("source: combined", "several sources as one dataset: a list of {source, path, ...}")
            yield from self.model_fields(("data",), DataConfig, ("sources",))
        else:
            entry = SOURCES[self.source]
            yield heading(f"source: {entry.name}", entry.help)
            yield from self.model_fields(("data",), entry.keys, None)
        yield heading("data", "how images become the model's input")
        yield from self.model_fields(("data",), DataConfig, other_keys())
        for name, model in SECTIONS:
            if name != "shapes" or self.source == "shapes":
                yield heading(f"data.{name}", model.__doc__ or "")
                yield from self.model_fields(("data", name), model, None)


def _with_source(config: dict[str, Any], source: str) -> dict[str, Any]:
    """The plain config with the data section's source keys as `source` starts them: the config's own values
    when it is the config's source, else the new source's defaults (a required key empty)."""
    data = config["data"]
    if data["source"] == source:
        return config
    fresh: dict[str, Any] = {key: None for key in SOURCES.flat_keys()} | {"sources": []}
    if source != COMBINED:
        for key, info in SOURCES[source].keys.model_fields.items():
            fresh[key] = None if info.is_required() else info.default
    return {**config, "data": {**data, **fresh, "source": source}}
