"""A layer stack on its own as a YAML file: `layers: [entries]`, read within core.safe_yaml's bounds."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import yaml

from core import safe_yaml
from core.errors import ConfigError, ConfigIssue
from core.files import atomic_write
from core.model.registry import LayerSpec, parse_stack


def save_stack(specs: Sequence[LayerSpec], path: str | Path) -> None:
    """Write the stack as YAML (every param filled in), atomically."""
    text = yaml.safe_dump({"layers": [spec.to_entry() for spec in specs]}, sort_keys=False)
    atomic_write(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def load_stack(path: str | Path) -> list[LayerSpec]:
    """Read and validate a stack file; ConfigError (with key paths) when it is not one."""
    path = Path(path)
    raw = safe_yaml.load(safe_yaml.read_text(path), str(path))
    if not isinstance(raw, dict) or set(raw) != {"layers"}:
        raise ConfigError([ConfigIssue((), "a layer stack file is one key, layers: [...]")], str(path))
    try:
        return parse_stack(raw["layers"], path=("layers",))
    except ConfigError as exc:
        raise ConfigError(exc.issues, str(path)) from exc
