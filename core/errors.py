"""Errors a user can fix: bad config, bad data, a model whose shapes do not fit.

Front ends show the message as it is and exit with status 2; anything else is a bug.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

KeyPath = tuple[Union[str, int], ...]
QUOTE_LIMIT = 300  # characters of one part of a message: a 100 MB value in a config is not echoed whole


def format_key_path(path: KeyPath) -> str:
    """('model', 'layers', 3, 'conv2d') -> 'model.layers[3].conv2d'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text`, or its start and end around a count of what was left out when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    kept = limit - 50  # room for the count
    head = kept * 2 // 3
    return f"{text[:head]} ... ({len(text) - kept:,} characters left out) ... {text[len(text) - (kept - head):]}"


class WorkbenchError(Exception):
    """A problem in the user's input, explained well enough to fix it."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem at one key of a config."""

    path: KeyPath
    message: str
    hint: str | None = None
    line: int | None = None
    origin: str | None = None  # where the value came from when not the file, e.g. "--set train.epochs=0"

    def describe(self, source: str | None = None) -> str:
        """`where: message`, each part clipped (they quote the user's keys and values), then the hint."""
        where = clip(format_key_path(self.path))
        if self.origin is not None:
            where = f"{where} ({clip(self.origin)})" if where else clip(self.origin)
        elif self.line is not None:
            line = f"line {self.line}" if source is None else f"{source}:{self.line}"
            where = f"{where} ({line})" if where else line
        message = clip(self.message)
        text = f"{where}: {message}" if where else message
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(WorkbenchError):
    """One or more problems in a config; every one is reported at once."""

    def __init__(self, issues: list[ConfigIssue], source: str | None = None) -> None:
        self.issues = issues
        self.source = source
        header = f"invalid config {source}" if source else "invalid config"
        lines = [issue.describe(source) for issue in issues]
        super().__init__(header + ":\n  " + "\n  ".join(lines))


class DataError(WorkbenchError):
    """The data named by the config cannot be used (missing folder, no images, ...)."""


class ShapeError(WorkbenchError):
    """A layer receives a shape it cannot take; the message names the layer and the fix."""

    def __init__(self, message: str, *, layer_index: int, fix: dict | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index
        self.fix = fix
