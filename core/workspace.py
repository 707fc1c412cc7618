"""The config a person is editing in the TUI: where it came from and whether it has unsaved changes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import RunConfig, load_config, save_config, validate_config

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO_ROOT / "configs" / "shapes.yaml"
LOCAL_CONFIG_NAMES = ("workbench.yaml", "workbench.yml")


def default_config_path(folder: Path) -> Path:
    """The config `workbench` opens with no argument: ./workbench.yaml if present, else the demo."""
    for name in LOCAL_CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return DEMO_CONFIG


class Workspace:
    """A valid RunConfig being edited; every change is validated before it is kept."""

    def __init__(self, config: RunConfig, path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self._saved = config

    @property
    def dirty(self) -> bool:
        """Whether the config differs from what was last loaded or saved."""
        return self.config != self._saved

    @classmethod
    def open(cls, path: Path) -> "Workspace":
        """Load a YAML config (raises ConfigError)."""
        return cls(load_config(path), path)

    def update(self, section: str, **changes: Any) -> None:
        """Change keys of one section, e.g. update("train", epochs=3); raises ConfigError, keeps the old config."""
        plain = self.config.to_plain()
        if section:
            plain[section].update(changes)
        else:
            plain.update(changes)
        self.replace(plain)

    def set_layers(self, entries: list[Any]) -> None:
        """Make the model this layer list, replacing a torchvision or module model (raises ConfigError)."""
        plain = self.config.to_plain()
        plain["model"].update(layers=entries, torchvision=None, module=None, module_args={})
        self.replace(plain)

    def replace(self, plain: dict[str, Any]) -> None:
        """Validate plain config data and make it the current config."""
        self.config = validate_config(plain, source=str(self.path) if self.path else None)

    def save(self, path: Path | None = None) -> Path:
        """Write the config as YAML (to its own path unless another is given)."""
        target = path or self.path
        if target is None:
            raise ValueError("no path to save the config to")
        save_config(self.config, target)
        self.path, self._saved = target, self.config
        return target
