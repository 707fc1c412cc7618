"""The config a person is editing in the TUI, and the rules about editing it that no screen should hold.

- Validated on every change (`update`, `replace`); dirty when it differs from what was loaded or saved.
- Which keys a data source takes (`use_source`) and which parameters survive switching an optimizer,
  loss or schedule (`switch_entry`).
- Saving writes only the keys that differ from the defaults (`minimal_plain`), so a saved file stays
  as short as the example it came from; the example configs in configs/ are never overwritten.
- Saving over a file changes only what differs (`update_text`, ruamel.yaml's round trip), so its comments,
  key order and quoting stay. ruamel keeps a comment with the value before it: the comments above a key go
  with the key before them when that one is no longer written.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RoundTripError
from ruamel.yaml.util import load_yaml_guess_indent

from core.config import TABLES, RunConfig, load_config, parse_config, validate_config
from core.data.sources import SOURCES
from core.errors import WorkbenchError
from core.files import atomic_write

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "configs"
DEMO_CONFIG = EXAMPLES_DIR / "shapes.yaml"
LOCAL_CONFIG_NAMES = ("workbench.yaml", "workbench.yml")
SOURCE_KEYS = ("source", "sources", *SOURCES.flat_keys())  # what picks the images
MAX_FIX_ROUNDS = 20


class SaveRefused(WorkbenchError):
    """A save that would overwrite an example config."""


def default_config_path(folder: Path) -> Path:
    """The config `workbench` opens with no argument: ./workbench.yaml if present, else the demo."""
    for name in LOCAL_CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return DEMO_CONFIG


def is_example(path: Path | None) -> bool:
    """Whether `path` is one of the example configs shipped in configs/."""
    if path is None:
        return False
    try:
        return Path(path).resolve().is_relative_to(EXAMPLES_DIR.resolve())
    except OSError:
        return False


def switch_entry(key: str, current: dict[str, Any], name: str) -> dict[str, Any]:
    """train.<key> (optimizer, loss, schedule) switched to entry `name`, keeping the parameters both take."""
    keep = TABLES[key].parameters(name)
    return {"name": name, **{param: value for param, value in current.items() if param in keep}}


def suggested_run_name(data: dict[str, Any]) -> str:
    """A run name from a data config: the folder's, CSV file's or set's name, as a valid config name."""
    from core.runs.history import dataset_text

    text = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset_text(data)).strip("-._")[:64]
    return text or "run"


class Workspace:
    """A valid RunConfig being edited; every change is validated before it is kept."""

    def __init__(self, config: RunConfig, path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self._saved = config
        self._named_by_source: str | None = None  # the run name use_source gave, while the person keeps it

    @property
    def dirty(self) -> bool:
        """Whether the config differs from what was last loaded or saved."""
        return self.config != self._saved

    @property
    def needs_new_path(self) -> bool:
        """Saving asks for a file name: the config has none, or it is an example that is never overwritten."""
        return self.path is None or is_example(self.path)

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

    def use_source(self, source: str, path: str | None = None, **extra: Any) -> str | None:
        """Point the data at another source (the other source keys cleared); raises ConfigError.

        While the person has not named the run themselves, the run name follows the data (the
        file's own name when the source goes back to the file's): returns the new name when it changed.
        """
        plain = self.config.to_plain()
        plain["data"].update({"source": source, "sources": [], **SOURCES.flat_keys(), "path": path, **extra})
        old_name = plain["name"]
        if old_name in (self._saved.name, self._named_by_source):
            saved_data = self._saved.to_plain()["data"]
            same = all(plain["data"].get(key) == saved_data.get(key) for key in SOURCE_KEYS)
            plain["name"] = self._saved.name if same else suggested_run_name(plain["data"])
        self.replace(plain)
        if self.config.name == old_name:
            return None
        self._named_by_source = self.config.name
        return self.config.name

    def switch_entry(self, key: str, name: str) -> None:
        """Switch train.optimizer, train.loss or train.schedule to another entry (raises ConfigError)."""
        current = self.config.to_plain()["train"][key]
        self.update("train", **{key: switch_entry(key, current, name)})

    def replace(self, plain: dict[str, Any]) -> None:
        """Validate plain config data and make it the current config."""
        self.config = validate_config(plain, source=str(self.path) if self.path else None)

    def suggest_path(self, folder: Path) -> Path:
        """Where to save a config that needs a new file: <name>.yaml in `folder`, numbered if taken."""
        for attempt in range(1, 1000):
            candidate = Path(folder) / f"{self.config.name}{'' if attempt == 1 else f'-{attempt}'}.yaml"
            if not candidate.exists():
                return candidate
        return Path(folder) / f"{self.config.name}.yaml"

    def save(self, path: Path | None = None) -> Path:
        """Write the keys that differ from the defaults as YAML (to its own path unless another is given).

        Raises SaveRefused for an example config, ValueError with no path, WriteError when it cannot be written.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save the config to")
        if is_example(target):
            raise SaveRefused(f"{target} is an example config and is never overwritten; save under another name")
        try:
            previous = target.read_text(encoding="utf-8") if target.is_file() else ""
        except (OSError, UnicodeDecodeError):
            previous = ""
        data = config_text(self.config, previous).encode("utf-8")
        atomic_write(target, lambda handle: handle.write(data))
        self.path, self._saved, self._named_by_source = target, self.config, None
        return target


def config_text(config: RunConfig, previous: str = "") -> str:
    """The config as short YAML (only keys away from the defaults); over `previous`, the file it replaces, only what
    changed is rewritten, so that file's comments, key order and quoting stay.

    ruamel reads YAML 1.2 and our reader PyYAML 1.1 (`on` is a string to one, true to the other), so an update
    that would read back as another config is not written: the config's own text is.
    """
    text = yaml.dump(minimal_plain(config), Dumper=_SectionDumper, sort_keys=False, default_flow_style=None,
                     width=100)
    updated = update_text(previous, text) if previous.strip() else None
    return updated if updated is not None and _reads_as(updated, config) else text


class _SectionDumper(yaml.SafeDumper):
    """The top level and its sections as blocks, smaller collections inline: `optimizer: {name: adam, lr: 0.003}`."""

    _depth = 0

    def represent_mapping(self, tag, mapping, flow_style=None):
        self._depth += 1
        try:
            return super().represent_mapping(tag, mapping, False if self._depth <= 2 else flow_style)
        finally:
            self._depth -= 1


def minimal_plain(config: RunConfig) -> dict[str, Any]:
    """The smallest plain config that validates back to `config`: the model always, the rest where not default.

    Built up from the model alone: each round validates what is there and adds the keys where the
    result still differs (an entry's `name` first, since it decides the defaults of its siblings).
    """
    from core.train.resume import differing_keys

    target = config.to_plain()
    minimal: dict[str, Any] = {"name": target["name"], "model": _minimal_model(target["model"])}
    for _ in range(MAX_FIX_ROUNDS):
        try:
            current = validate_config(minimal).to_plain()
        except WorkbenchError:
            return _without_none(target)
        differences = [path for path in differing_keys(current, target) if path]
        if not differences:
            return _ordered(minimal, target)
        names = [path for path in differences if path[-1] == "name"]
        for path in names or differences:
            _set(minimal, path, target)
    return _without_none(target)


def _minimal_model(model: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in model.items() if value not in (None, {}, [])}
    out.pop("budget", None)  # added back by the rounds when it is not the default
    if model.get("layers"):
        out["layers"] = [_minimal_layer(entry) for entry in model["layers"]]
    return out


def _minimal_layer(entry: Any) -> Any:
    """A layer entry without the params at their defaults: {'conv2d': {out_channels: 16, ...}} or 'relu'."""
    from core.model.registry import LAYERS

    if not isinstance(entry, dict) or len(entry) != 1:
        return entry
    (kind, params), = entry.items()
    if kind not in LAYERS or not isinstance(params, dict):
        return entry
    defaults = {param.name: param.default for param in LAYERS[kind].params}
    kept = {}
    for name, value in params.items():
        default = defaults.get(name)
        if isinstance(value, list) and value and all(isinstance(item, (str, dict)) for item in value):
            value = [_minimal_layer(item) for item in value]  # a block's own layers
        if _plain_value(default) != value:
            kept[name] = value
    return {kind: kept} if kept else kind


def _plain_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _set(minimal: dict[str, Any], path: tuple, target: dict[str, Any]) -> None:
    """Copy target's value at `path` into minimal; a path into a list copies the whole list."""
    cut = next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))
    path = path[:cut]
    source, node = target, minimal
    for part in path[:-1]:
        source = source[part]
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    value = source.get(path[-1]) if isinstance(source, dict) else None
    node[path[-1]] = _without_none(value)  # a key left null comes back in a later round if it matters


def _ordered(minimal: Any, target: Any) -> Any:
    """minimal's keys in the schema's order (target's), recursively; anything but two mappings as it is."""
    if not isinstance(minimal, dict) or not isinstance(target, dict):
        return minimal
    return {key: _ordered(minimal[key], target.get(key)) for key in sorted(
        minimal, key=lambda key: list(target).index(key) if key in target else len(target))}


def _without_none(plain: Any) -> Any:
    if isinstance(plain, dict):
        return {key: _without_none(value) for key, value in plain.items() if value is not None}
    return plain


def update_text(previous: str, text: str) -> str | None:
    """The YAML of `previous` changed to hold what `text` holds, with ruamel's round trip; None when `previous`
    is not a YAML mapping. Values that did not change keep their text, new keys go where the schema puts them."""
    yaml_rt = _round_trip()
    try:
        document, indent, dash_offset = load_yaml_guess_indent(previous, yaml=yaml_rt)
        changed = yaml_rt.load(text)
    except RoundTripError:
        return None
    if not isinstance(document, CommentedMap):
        return None
    _update(document, changed)
    if dash_offset is not None:  # the file's list style ("- a" level with its key, or indented); mappings by 2
        yaml_rt.indent(mapping=2, sequence=indent, offset=dash_offset)
    out = io.StringIO()
    yaml_rt.dump(document, out)
    return out.getvalue()


def _round_trip() -> YAML:
    """ruamel in round-trip mode: documents are its comment-carrying containers, and a tag it does not know
    (`!!python/object`) stays text on its node; nothing is ever constructed from one."""
    yaml_rt = YAML(typ="rt")
    yaml_rt.preserve_quotes = True
    yaml_rt.brace_single_entry_mapping_in_flow_sequence = True  # [flatten, {linear: {...}}] as written
    yaml_rt.width = 120
    return yaml_rt


def _update(old: CommentedMap | CommentedSeq, new: CommentedMap | CommentedSeq) -> None:
    """Make `old` hold what `new` holds, in place: equal values keep their text and comments."""
    if isinstance(old, CommentedMap):
        for key in [key for key in old if key not in new]:
            del old[key]
        for index, key in enumerate(new):
            if key in old:
                _update_item(old, key, new[key])
            else:  # after the nearest key before it (in the schema's order) that the file has
                before = [earlier for earlier in list(new)[:index] if earlier in old]
                old.insert(list(old).index(before[-1]) + 1 if before else 0, key, new[key])
    else:
        del old[len(new):]
        for index, value in enumerate(new):
            if index < len(old):
                _update_item(old, index, value)
            else:
                old.append(value)


def _update_item(container: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    current = container[key]
    if isinstance(current, (CommentedMap, CommentedSeq)) and type(current) is type(value):
        _update(current, value)
    elif current != value:
        container[key] = value


def _reads_as(text: str, config: RunConfig) -> bool:
    try:
        return parse_config(text) == config
    except WorkbenchError:
        return False
