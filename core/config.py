"""The run config: one typed schema (pydantic) for data, model and training, YAML outside.

`load_config` reads YAML with `yaml.safe_load`, applies `--set key.path=value` overrides,
and reports every problem at once, each with its key path, its YAML line and, for a typo,
the nearest valid key. Layer entries are checked by the layer registry and kept as plain
data, so a config can always be written back to YAML and stored in a checkpoint.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError, ConfigIssue, KeyPath

DEFAULT_SHAPES_PATH = "data/shapes"


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo never silently becomes a default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ShapesOptions(StrictModel):
    """How the embedded `shapes` dataset is generated (only read when data.source is shapes)."""

    seed: int = 0
    train_per_class: int = Field(300, ge=1, le=100_000)
    val_per_class: int = Field(60, ge=1, le=100_000)
    size: int = Field(32, ge=8, le=512, description="side of the generated square images")


class NormalizeStats(StrictModel):
    """Explicit per-channel normalisation, as in transforms.Normalize(mean, std)."""

    mean: list[float] = Field(min_length=1, max_length=3)
    std: list[float] = Field(min_length=1, max_length=3)

    @field_validator("std")
    @classmethod
    def _positive(cls, std: list[float]) -> list[float]:
        if any(s <= 0 for s in std):
            raise ValueError("every std must be greater than 0")
        return std

    @model_validator(mode="after")
    def _same_length(self) -> "NormalizeStats":
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
        return self


class DataConfig(StrictModel):
    source: Literal["shapes", "folder"] = "shapes"
    path: str | None = Field(None, description="dataset folder; data/shapes for the shapes source")
    val_split: float = Field(0.2, gt=0, lt=1, description="fraction held out when there is no val/ folder")
    image_size: tuple[int, int] = Field((32, 32), description="[height, width] after resizing")
    channels: Literal[1, 3] = 3
    normalize: Union[Literal["auto", "none"], NormalizeStats] = "auto"
    batch_size: int = Field(64, ge=1, le=65_536)
    shapes: ShapesOptions = ShapesOptions()

    @field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1 or max(value) > 4096:
            raise ValueError("height and width must be between 1 and 4096")
        return value

    @model_validator(mode="after")
    def _path_for_source(self) -> "DataConfig":
        if self.path is None:
            if self.source != "shapes":
                raise ValueError(f"data.path is required for source '{self.source}'")
            self.path = DEFAULT_SHAPES_PATH
        if isinstance(self.normalize, NormalizeStats) and len(self.normalize.mean) not in (1, self.channels):
            raise ValueError(f"normalize has {len(self.normalize.mean)} values for {self.channels} channels")
        return self


LayerEntry = Union[str, dict[str, Any]]


class ModelConfig(StrictModel):
    layers: list[LayerEntry] = Field(min_length=1, description="assembled into nn.Sequential")


class OptimizerConfig(StrictModel):
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.01, gt=0, le=10)
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _momentum_is_sgd(self) -> "OptimizerConfig":
        if self.name != "sgd" and self.momentum:
            raise ValueError(f"momentum applies to sgd only, not {self.name}; remove it")
        return self


class TrainConfig(StrictModel):
    epochs: int = Field(5, ge=1, le=100_000)
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    optimizer: OptimizerConfig = OptimizerConfig()


class RunConfig(StrictModel):
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    seed: int = 0
    data: DataConfig = DataConfig()
    model: ModelConfig
    train: TrainConfig = TrainConfig()

    def to_plain(self) -> dict[str, Any]:
        """Every value filled in, as YAML/JSON-safe plain data."""
        return self.model_dump(mode="json")


def load_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    """Read, override and validate a YAML config; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue((), f"cannot read the file: {exc.strerror}")], str(path)) from exc
    return parse_config(text, overrides, source=str(path))


def parse_config(text: str, overrides: list[str] = (), source: str | None = None) -> RunConfig:
    """Validate YAML text as a RunConfig (see load_config)."""
    try:
        raw = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigIssue((), f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line)], source) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue((), "the config must be a mapping of keys (name, data, model, train)")], source)
    for override in overrides:
        apply_override(raw, override, source)
    return validate_config(raw, source=source, lines=lines)


def validate_config(raw: dict[str, Any], source: str | None = None, lines: dict[KeyPath, int] | None = None) -> RunConfig:
    """Validate plain data as a RunConfig, layers included."""
    from core.model.registry import parse_stack  # the registry validates layer entries

    lines = lines or {}
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_issue_from_pydantic(err, lines) for err in exc.errors()], source) from exc
    try:
        specs = parse_stack(config.model.layers, path=("model", "layers"))
    except ConfigError as exc:
        raise ConfigError([_with_line(issue, lines) for issue in exc.issues], source) from exc
    config.model.layers = [spec.to_entry() for spec in specs]
    return config


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML, in schema order."""
    path.write_text(yaml.safe_dump(config.to_plain(), sort_keys=False), encoding="utf-8")


def apply_override(raw: dict[str, Any], override: str, source: str | None = None) -> None:
    """Apply `key.path=value` to raw config data; the value is read as YAML (3, 1e-3, [32, 32])."""
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError([ConfigIssue((), f"--set {override!r} is not KEY=VALUE", hint="e.g. --set train.epochs=3")], source)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    try:
        value = yaml.safe_load(value_text)
    except yaml.YAMLError:
        value = value_text
    target: Any = raw
    for depth, part in enumerate(parts[:-1]):
        nxt = _child(target, part)
        if nxt is None:
            nxt = {}
            _assign(target, part, nxt, tuple(parts[: depth + 1]), source)
        target = nxt
    _assign(target, parts[-1], value, tuple(parts), source)


def _child(container: Any, part: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and isinstance(part, int) and part < len(container):
        return container[part]
    return None


def _assign(container: Any, part: str | int, value: Any, path: KeyPath, source: str | None) -> None:
    if isinstance(container, dict):
        container[part] = value
    elif isinstance(container, list) and isinstance(part, int) and part < len(container):
        container[part] = value
    else:
        raise ConfigError([ConfigIssue(path, "--set cannot reach this key", hint="check the key path")], source)


def _key_lines(node: yaml.Node | None, path: KeyPath = ()) -> dict[KeyPath, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    lines: dict[KeyPath, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            lines.update(_key_lines(value_node, child))
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, path + (index,)))
    return lines


def _with_line(issue: ConfigIssue, lines: dict[KeyPath, int]) -> ConfigIssue:
    path = issue.path
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path) if path else None
    return ConfigIssue(issue.path, issue.message, issue.hint, line)


def _issue_from_pydantic(err: dict[str, Any], lines: dict[KeyPath, int]) -> ConfigIssue:
    path = _clean_loc(err["loc"])
    message, hint = err["msg"], None
    if err["type"] == "extra_forbidden":
        valid = _fields_at(path[:-1])
        message = f"unknown key '{path[-1]}'"
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else (f"valid keys: {', '.join(valid)}" if valid else None)
    elif err["type"] == "missing":
        message = "this key is required"
    else:
        message = message.removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
    return _with_line(ConfigIssue(path, message, hint), lines)


def _clean_loc(loc: tuple[Any, ...]) -> KeyPath:
    """Drop pydantic's union-branch markers (e.g. 'literal['auto','none']') from an error location."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in {"str", "dict[str,any]"}))


def _fields_at(path: KeyPath) -> list[str]:
    """The valid keys of the config section at `path`, for typo suggestions."""
    model: Any = RunConfig
    for part in path:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            continue
        for arg in getattr(model, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
        else:
            return []
    return list(getattr(model, "model_fields", {}))
