"""The run config: one typed schema (pydantic) for data, model and training, YAML outside.

`load_config` reads YAML within bounds (core.safe_yaml), applies `--set key.path=value` overrides,
and reports every problem at once, each with its key path, its YAML line and, for a typo,
the nearest valid key. Layer entries are checked by the layer registry and kept as plain
data, so a config can always be written back to YAML and stored in a checkpoint.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator
from pydantic_core import ErrorDetails

from core import safe_yaml
from core.data.folds import HeldOutFold
from core.data.sources import SOURCES
from core.data.tta import POLICIES as TTA_POLICIES
from core.errors import ConfigError, ConfigIssue, KeyPath
from core.recipe.losses import LOSSES
from core.recipe.optimizers import OPTIMIZERS, OptimizerParams
from core.recipe.schedules import SCHEDULES, ScheduleParams
from core.recipe.table import Named, Table
from core.schema import StrictModel

SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed takes
AUTO_BATCH_START = 64  # batch_size: auto plans with this, and uses it where it cannot probe memory


# train.<key>: its table
TABLES: dict[str, Table[Any, Any]] = {"optimizer": OPTIMIZERS, "loss": LOSSES, "schedule": SCHEDULES}

if TYPE_CHECKING:  # the tables build these unions at run time; a type checker sees the params all entries share
    OptimizerChoice = OptimizerParams
    LossChoice = Named
    ScheduleChoice = ScheduleParams
else:
    OptimizerChoice = OPTIMIZERS.config_type()
    LossChoice = LOSSES.config_type()
    ScheduleChoice = SCHEDULES.config_type()


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


SourceName = Literal[SOURCES.names]  # type: ignore[name-defined]  # the table's names, known at run time


def _size_pair(value: Any) -> Any:
    """One number means a square: 32 -> (32, 32)."""
    return (value, value) if isinstance(value, int) and not isinstance(value, bool) else value


_SourceFields = create_model("SourceFields", __base__=StrictModel, source=(SourceName, "folder"),
                             **SOURCES.flat_fields())


class SourceConfig(_SourceFields):
    """One place images come from: `source` and, flat beside it, the keys that source takes (core.data.sources)."""

    _prefix: ClassVar[str] = ""  # how messages name this section's keys
    if TYPE_CHECKING:  # two of the fields create_model made from the source table, as the type checker sees them
        source: str = "folder"
        path: str | None = None  # every source fills it in; only "combined" has none

    @model_validator(mode="after")
    def _keys_fit_source(self) -> "SourceConfig":
        """Another source's key set away from "not given" is an error; this source's keys get its defaults."""
        if self.source == "combined":
            return self
        entry = SOURCES[self.source]
        takes = list(entry.keys.model_fields)
        for key, unset in SOURCES.flat_keys().items():
            if key not in takes and getattr(self, key) != unset:
                raise ValueError(f"{self._prefix}{key} applies to source {' or '.join(SOURCES.taking(key))}, "
                                 f"not '{self.source}' (which takes {', '.join(takes)}); remove it")
        for key, info in entry.keys.model_fields.items():
            if info.is_required() and getattr(self, key) is None:
                raise ValueError(f"{self._prefix}{key} is required for source '{self.source}'")
        for key, value in entry.keys_of(self).model_dump().items():
            if getattr(self, key) != value:
                setattr(self, key, value)
        return self


class ColorJitterOptions(StrictModel):
    """As transforms.ColorJitter: factors in [1 - x, 1 + x]; hue turns by up to x of a full turn either way."""

    brightness: float = Field(0.0, ge=0, le=1)
    contrast: float = Field(0.0, ge=0, le=1)
    saturation: float = Field(0.0, ge=0, le=1)
    hue: float = Field(0.0, ge=0, le=0.5)


class AugmentConfig(StrictModel):
    """Training-only augmentation, applied per batch on the training device, in this order."""

    random_crop_padding: int = Field(0, ge=0, le=256, description="RandomCrop(image_size, padding=N); 0 = off")
    random_crop_padding_mode: Literal["constant", "edge", "reflect"] = Field(
        "constant", description="RandomCrop's padding_mode: constant (black), edge (the border pixel repeated) or "
                                "reflect (mirrored about the border, as airbench pads)")
    random_crop_size: Union[tuple[int, int], None] = Field(
        None, description="train on random crops of this [height, width] (a number: a square) of the padded image; "
                          "validation sees the whole image: fewer pixels per step, for a model that takes any size")
    whole_images_from: Union[float, None] = Field(
        None, gt=0, le=1, description="with random_crop_size: from this share of the run's steps on (0.9: the last "
                                      "tenth), train on crops of image_size instead, the size validation sees, so the "
                                      "model ends on it (progressive resizing's last stage)")
    horizontal_flip: Literal[True, False, "alternate"] = Field(
        False, description="RandomHorizontalFlip(p=0.5); alternate: each image mirrored every other epoch")
    rotation: float = Field(0.0, ge=0, le=180, description="RandomRotation(degrees): up to this many either way")
    color_jitter: ColorJitterOptions = ColorJitterOptions()
    grayscale: float = Field(0.0, ge=0, le=1, description="RandomGrayscale(p)")

    @field_validator("random_crop_size", mode="before")
    @classmethod
    def _square_crop(cls, value: Any) -> Any:
        return _size_pair(value)

    @field_validator("random_crop_size")
    @classmethod
    def _positive_crop(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError("height and width must be at least 1")
        return value

    @property
    def enabled(self) -> bool:
        jitter = self.color_jitter
        return bool(self.random_crop_padding or self.random_crop_size or self.horizontal_flip or self.rotation
                    or self.grayscale or jitter.brightness or jitter.contrast or jitter.saturation or jitter.hue)


class LoaderConfig(StrictModel):
    """How batches are drawn; the worker options apply to the streaming path (no cache)."""

    shuffle: bool = True
    drop_last: bool = False
    num_workers: Union[Literal["auto"], int] = Field("auto", description="auto = up to 8, one per CPU core")
    pin_memory: Union[Literal["auto"], bool] = Field("auto", description="auto = on when training on CUDA")
    persistent_workers: bool = True

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if value != "auto" and not 0 <= value <= 64:
            raise ValueError("num_workers must be between 0 and 64, or auto")
        return value


class DataConfig(SourceConfig):
    _prefix: ClassVar[str] = "data."

    source: Literal[(*SOURCES.names, "combined")] = SOURCES.default  # type: ignore[valid-type]
    sources: list[SourceConfig] = Field([], description="several sources combined into one dataset")
    val_split: float = Field(0.2, gt=0, lt=1, description="fraction held out when a source has no validation set")
    image_size: tuple[int, int] = Field((32, 32), description="[height, width] the model sees")
    resize: Union[int, tuple[int, int], None] = Field(
        None, description="int: shorter side (keeps aspect), [h, w]: exact; then center-cropped to image_size")
    channels: Literal[1, 3] = 3
    normalize: Union[Literal["auto", "none"], NormalizeStats] = "auto"
    augment: AugmentConfig = AugmentConfig()
    batch_size: Union[Literal["auto"], int] = Field(
        64, description="images per step; auto: the largest power of two that fits the GPU's memory (64 elsewhere)")
    on_error: Literal["skip", "fail"] = Field("skip", description="unreadable image: skip and report, or stop")
    cache: Literal["auto", "on", "off"] = Field("auto", description="decode once into memory (auto: if it fits)")
    memory_budget_mb: int = Field(2048, ge=1, description="largest decoded cache for cache: auto")
    cache_dir: str | None = Field(None, description="save the decoded cache here and reuse it while files are unchanged")
    loader: LoaderConfig = LoaderConfig()
    shapes: ShapesOptions = ShapesOptions()
    exclude: Union[str, list[str], None] = Field(
        None, description="files left out: a decisions file (its exclude: list) or a list of paths; files untouched")
    relabel: Union[str, dict[str, str], None] = Field(
        None, description="files given another class: a decisions file (its relabel: map) or {path: class}")
    fold: HeldOutFold | None = Field(None, description="validate on this fold of the training pool (workbench cv)")

    @model_validator(mode="before")
    @classmethod
    def _combined_when_sources(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("sources") and "source" not in raw:
            return {**raw, "source": "combined"}
        return raw

    @field_validator("batch_size")
    @classmethod
    def _batch_size_range(cls, value: Any) -> Any:
        if value != "auto" and not 1 <= value <= 65_536:
            raise ValueError("batch_size must be between 1 and 65536, or auto")
        return value

    @property
    def planned_batch_size(self) -> int:
        """The batch size to plan budgets with: the number, or AUTO_BATCH_START for auto."""
        return AUTO_BATCH_START if self.batch_size == "auto" else self.batch_size

    @field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value: Any) -> Any:
        return _size_pair(value)

    @field_validator("cache", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        """`cache: on` unquoted is YAML's true: read it as "on" (and false as "off")."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1 or max(value) > 4096:
            raise ValueError("height and width must be between 1 and 4096")
        return value

    @field_validator("resize")
    @classmethod
    def _positive_resize(cls, value: Any) -> Any:
        sides = value if isinstance(value, tuple) else (value,) if value is not None else ()
        if any(not 1 <= side <= 8192 for side in sides):
            raise ValueError("resize sides must be between 1 and 8192")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "DataConfig":
        if (self.source == "combined") != bool(self.sources):
            raise ValueError("source 'combined' goes with a list of sources; list them under data.sources"
                             if self.sources == [] else "with data.sources, leave data.source out (or set it to combined)")
        if self.sources and any(getattr(self, key) != unset for key, unset in SOURCES.flat_keys().items()):
            raise ValueError(f"with data.sources, give {', '.join(SOURCES.flat_keys())} per source")
        if isinstance(self.normalize, NormalizeStats) and len(self.normalize.mean) not in (1, self.channels):
            raise ValueError(f"normalize has {len(self.normalize.mean)} values for {self.channels} channels")
        crop, padding = self.augment.random_crop_size, self.augment.random_crop_padding
        if crop and any(side > size + 2 * padding for side, size in zip(crop, self.image_size)):
            padded = [size + 2 * padding for size in self.image_size]
            raise ValueError(f"augment.random_crop_size {list(crop)} is larger than the padded image {padded} "
                             "(image_size plus twice random_crop_padding); make it at most that")
        if self.augment.whole_images_from is not None and not crop:
            raise ValueError("augment.whole_images_from switches random_crop_size's crops to whole images; "
                             "set random_crop_size too, or leave whole_images_from out")
        if self.augment.random_crop_padding_mode == "reflect" and padding >= min(self.image_size):
            raise ValueError(f"augment.random_crop_padding {padding} cannot reflect an image of {min(self.image_size)} "
                             "pixels (reflect mirrors the image itself); pad less than that, or use edge")
        return self


LayerEntry = Union[str, dict[str, Any]]


MODULE_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class TorchvisionModel(StrictModel):
    """A torchvision classification model, its head replaced for the data's classes."""

    name: str = Field(description="a torchvision classification model name, e.g. resnet18")
    weights: str = Field("none", min_length=1, description="none, default (torchvision's download) or a local file")
    freeze_backbone: bool = Field(False, description="train only the new head (and the appended layers)")
    append: list[LayerEntry] = Field([], description="layers in place of the old head; [] = one linear")

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        from core.model.vision import check_name  # the allowlist of torchvision classification models

        return check_name(name)


class BudgetConfig(StrictModel):
    """Limits checked on the meta device before a model is allocated."""

    max_parameters: int = Field(500_000_000, ge=1)
    max_activation_mb: float = Field(8192, gt=0, description="activations kept for one training batch")


class ModelConfig(StrictModel):
    """Exactly one of layers, torchvision or module, plus the budget."""

    layers: list[LayerEntry] | None = Field(None, min_length=1, description="assembled into nn.Sequential")
    torchvision: TorchvisionModel | None = None
    module: str | None = Field(None, pattern=MODULE_PATH, description="your own nn.Module: 'package.module:Class'")
    module_args: dict[str, Any] = Field({}, description="keyword arguments for the module's class")
    budget: BudgetConfig = BudgetConfig()

    @model_validator(mode="after")
    def _one_kind(self) -> "ModelConfig":
        given = [key for key in ("layers", "torchvision", "module") if getattr(self, key) is not None]
        if len(given) != 1:
            got = f" (got {' and '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of model.layers, model.torchvision or model.module{got}")
        if self.module_args and self.module is None:
            raise ValueError("module_args applies to model.module only; remove it")
        return self

    @property
    def kind(self) -> str:
        """'layers', 'torchvision' or 'module'."""
        return next(key for key in ("layers", "torchvision", "module") if getattr(self, key) is not None)


def _normalise_layers(model: ModelConfig) -> None:
    """Validate layer entries with the registry and keep them with every param filled in."""
    from core.model.registry import parse_stack  # the registry validates layer entries

    if model.layers is not None:
        model.layers = [spec.to_entry() for spec in parse_stack(model.layers, path=("model", "layers"))]
    if model.torchvision is not None:
        specs = parse_stack(model.torchvision.append, path=("model", "torchvision", "append"))
        model.torchvision.append = [spec.to_entry() for spec in specs]


class GradClip(StrictModel):
    """Gradient clipping before each optimizer step: by total norm or by value (one of them)."""

    norm: float | None = Field(None, gt=0, le=1e6, description="clip_grad_norm_: scale gradients to at most this L2 norm")
    value: float | None = Field(None, gt=0, le=1e6, description="clip_grad_value_: clamp each gradient to ±value")

    @model_validator(mode="after")
    def _one_kind(self) -> "GradClip":
        if (self.norm is None) == (self.value is None):
            raise ValueError("give exactly one of norm or value, e.g. grad_clip: {norm: 1.0}")
        return self


EarlyStopMetric = Literal["val_loss", "val_accuracy", "train_loss"]


class EarlyStopping(StrictModel):
    """Stop when `metric` has not improved by more than min_delta for `patience` epochs."""

    metric: EarlyStopMetric = "val_loss"
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for accuracy, min for losses")
    patience: int = Field(5, ge=1, le=100_000)
    min_delta: float = Field(0.0, ge=0)

    @property
    def maximise(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and self.metric == "val_accuracy")


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}  # train.budget's suffixes; a plain number is seconds
DURATION_EXAMPLES = "e.g. 90s, 15m, 2h, 1.5h or 600 (seconds)"
LONGEST_BUDGET = 366 * 24 * 3600


def parse_duration(text: str | float) -> float:
    """Seconds in `15m`, `2h`, `90s` or a plain number of seconds; ValueError naming the accepted forms."""
    value = str(text).strip().lower()
    number, factor = (value[:-1], DURATION_UNITS[value[-1]]) if value[-1:] in DURATION_UNITS else (value, 1)
    try:
        seconds = float(number) * factor
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; {DURATION_EXAMPLES}") from None
    if not 0 < seconds <= LONGEST_BUDGET or math.isnan(seconds):
        raise ValueError(f"a budget must be more than 0 and at most a year; {DURATION_EXAMPLES}")
    return seconds


class Lookahead(StrictModel):
    """Lookahead around the optimizer (core/train/lookahead.py)."""

    steps: int = Field(5, ge=1, le=100_000, description="optimizer steps between syncs of the slow weights")
    alpha: float = Field(0.5, gt=0, le=1, description="how far a sync moves the slow weights towards the fast")


class TrainConfig(StrictModel):
    epochs: int = Field(5, ge=1, le=100_000, description="passes over the training set; with a budget, the most")
    budget: str | None = Field(None, description="train to a deadline counted from the command's start, e.g. 15m, "
                                                 "2h, 90s: the schedule ends then (core/train/budget.py)")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    optimizer: OptimizerChoice = OPTIMIZERS.default_config()
    loss: LossChoice = LOSSES.default_config()
    schedule: ScheduleChoice = SCHEDULES.default_config()
    grad_clip: GradClip | None = None
    lookahead: Lookahead | None = Field(None, description="{steps: 5, alpha: 0.5}: Lookahead's slow weights, synced "
                                        "every `steps` steps")
    accumulate: int = Field(1, ge=1, le=1024, description="sum gradients over this many batches per optimizer step")
    early_stopping: EarlyStopping | None = None
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="autocast dtype (fp16: CUDA only)")
    compile: bool = Field(False, description="torch.compile the model (on CUDA; skipped on CPU)")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms and seeded workers")
    reuse_cpu_memory: bool = Field(True, description="on a CPU, freed memory is kept for the next step instead of "
                                                     "being page-faulted back (core/train/cpu_memory.py)")
    tta: Literal[tuple(TTA_POLICIES)] = Field(  # type: ignore[valid-type]
        "none", description="validation averages each image's outputs over views: flip (and its mirror), "
                            "flip_shift (both also shifted a pixel)")
    eval_flip: bool = Field(False, description="the same as tta: flip")
    final_tta: Union[Literal[tuple(TTA_POLICIES)], None] = Field(  # type: ignore[valid-type]
        None, description="the last epoch's validation uses this policy instead of tta (flip_shift's six views "
                          "once, at the end, rather than at every epoch); null: tta")
    on_nan: Literal["stop", "skip"] = Field("stop", description="a NaN or infinite loss: stop the run, or skip the batch")

    @model_validator(mode="before")
    @classmethod
    def _entry_names(cls, raw: Any) -> Any:
        """`loss: l1` is {name: l1}; an entry without a name gets its table's default."""
        if not isinstance(raw, dict):
            return raw
        return {**raw, **{key: table.with_default_name(raw[key]) for key, table in TABLES.items() if key in raw}}

    @field_validator("budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Kept as written (`15m` stays `15m` in a saved config), once it reads as a duration."""
        if value is None or isinstance(value, bool):
            return value
        parse_duration(value)
        return str(value)

    @model_validator(mode="after")
    def _one_tta(self) -> "TrainConfig":
        if self.eval_flip and self.tta not in ("none", "flip"):
            raise ValueError(f"eval_flip: true (the same as tta: flip) conflicts with tta: {self.tta}; "
                             "set tta alone and remove eval_flip")
        return self

    @property
    def validation_tta(self) -> str:
        """The test-time augmentation validation uses: train.tta, or flip for eval_flip: true."""
        return "flip" if self.eval_flip else self.tta

    @property
    def final_validation_tta(self) -> str:
        """The test-time augmentation of the last planned epoch's validation: final_tta, or as the others'."""
        return self.final_tta or self.validation_tta

    @property
    def budget_seconds(self) -> float | None:
        return None if self.budget is None else parse_duration(self.budget)


class NotifyConfig(StrictModel):
    """What happens when a run ends (finished, stopped, failed or diverged)."""

    command: list[str] | None = Field(None, min_length=1, description="a program and its arguments, run without a "
                                      "shell, with the outcome in WORKBENCH_* environment variables")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="stop the command after this many seconds")


class RunConfig(StrictModel):
    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    seed: int = 0

    @field_validator("seed")
    @classmethod
    def _torch_seed(cls, seed: int) -> int:
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise ValueError("seed must be an integer from -2**63 to 2**64 - 1, the range torch.manual_seed takes")
        return seed
    data: DataConfig = DataConfig()
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    sweep: dict[str, Any] | None = Field(None, description="the search `workbench sweep` runs (core/sweep/space.py); "
                                                           "a run ignores it")
    notify: NotifyConfig = NotifyConfig()

    def to_plain(self) -> dict[str, Any]:
        """Every value filled in, as YAML/JSON-safe plain data (no `sweep` key when there is no search)."""
        plain = self.model_dump(mode="json")
        if plain["sweep"] is None:
            del plain["sweep"]
        return plain


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read, override and validate a YAML config; raise ConfigError listing every problem."""
    path = Path(path)
    return parse_config(safe_yaml.read_text(path), overrides, source=str(path))


def parse_config(text: str, overrides: Sequence[str] = (), source: str | None = None) -> RunConfig:
    """Validate YAML text as a RunConfig (see load_config)."""
    node = safe_yaml.compose(text, source)
    raw = {} if node is None else safe_yaml.build(node, source)
    lines = _key_lines(node)
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue((), "the config must be a mapping of keys (name, data, model, train)")], source)
    origins = {apply_override(raw, override, source): f"--set {override}" for override in overrides}
    return validate_config(raw, source=source, lines=lines, origins=origins)


def validate_config(raw: dict[str, Any], source: str | None = None, lines: dict[KeyPath, int] | None = None,
                    origins: dict[KeyPath, str] | None = None) -> RunConfig:
    """Validate plain data as a RunConfig, layers included, reporting every problem at once.

    `lines` gives each key's YAML line; `origins` names the --set argument of keys set by one,
    so its problems are reported at the argument rather than at a line of the file.
    """
    issues = _non_finite(raw)
    flagged = {issue.path for issue in issues}
    config = None
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        issues += [issue for issue in map(_issue_from_pydantic, exc.errors()) if issue.path not in flagged]
    issues += [issue for issue in _layer_issues(config, raw, issues) if issue.path not in flagged]
    if issues:
        raise ConfigError([_locate(issue, lines or {}, origins or {}) for issue in issues], source)
    assert config is not None  # pydantic either raised, with issues, or validated
    return config


def _layer_issues(config: RunConfig | None, raw: dict[str, Any], found: list[ConfigIssue]) -> list[ConfigIssue]:
    """The layer registry's problems: on the valid config, or on the raw layer lists the schema left unjudged."""
    from core.model.registry import parse_stack

    if config is not None:
        try:
            _normalise_layers(config.model)
        except ConfigError as exc:
            return exc.issues
        return []
    issues: list[ConfigIssue] = []
    for key in (("layers",), ("torchvision", "append")):
        path, entries = ("model", *key), raw.get("model")
        for part in key:
            entries = entries.get(part) if isinstance(entries, dict) else None
        if not isinstance(entries, list) or any(issue.path[:len(path)] == path for issue in found):
            continue
        try:
            parse_stack(entries, path=path)
        except ConfigError as exc:
            issues += exc.issues
    return issues


def _non_finite(value: Any, path: KeyPath = ()) -> list[ConfigIssue]:
    """inf and nan anywhere in raw config data (YAML's .inf, .nan, or a number too large for a float)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [ConfigIssue(path, f"must be a finite number, not {value}",
                            hint="write a number, e.g. 1e9 rather than .inf for a very large limit")]
    if isinstance(value, dict):
        return [issue for key, item in value.items() for issue in _non_finite(item, (*path, key))]
    if isinstance(value, list):
        return [issue for index, item in enumerate(value) for issue in _non_finite(item, (*path, index))]
    return []


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML, in schema order."""
    path.write_text(yaml.safe_dump(config.to_plain(), sort_keys=False), encoding="utf-8")


def apply_override(raw: dict[str, Any], override: str, source: str | None = None) -> KeyPath:
    """Apply `key.path=value` to raw config data (the value read as YAML: 3, 1e-3, [32, 32]); return the key path."""
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError([ConfigIssue((), f"--set {override!r} is not KEY=VALUE", hint="e.g. --set train.epochs=3")], source)
    parts: list[str | int] = [int(p) if p.isascii() and p.isdigit() else p for p in key.strip().split(".")]
    try:
        value = safe_yaml.load(value_text, f"--set {override}")
    except safe_yaml.InvalidYaml:  # a value past the bounds is refused; one that is not YAML is taken as text
        value = value_text
    target: Any = raw
    for depth, part in enumerate(parts[:-1]):
        nxt = _child(target, part)
        if nxt is None:
            nxt = {}
            _assign(target, part, nxt, tuple(parts[: depth + 1]), override, source)
        target = nxt
    _assign(target, parts[-1], value, tuple(parts), override, source)
    return tuple(parts)


def _child(container: Any, part: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and isinstance(part, int) and part < len(container):
        return container[part]
    return None


def _assign(container: Any, part: str | int, value: Any, path: KeyPath, override: str, source: str | None) -> None:
    if isinstance(container, dict):
        container[part] = value
    elif isinstance(container, list) and isinstance(part, int) and part < len(container):
        container[part] = value
    else:
        what = f"a list of {len(container)}" if isinstance(container, list) else f"{type(container).__name__} {container!r}"
        raise ConfigError([ConfigIssue(path, f"cannot be set: the value above it is {what}",
                                       hint="check the key path", origin=f"--set {override}")], source)


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


def _locate(issue: ConfigIssue, lines: dict[KeyPath, int], origins: dict[KeyPath, str]) -> ConfigIssue:
    """The issue with where its value came from: the --set argument that set it, else its YAML line."""
    path = issue.path
    origin = next((arg for key, arg in origins.items() if path[:len(key)] == key), None) or \
        next((arg for key, arg in origins.items() if path and key[:len(path)] == path), None)
    if origin is not None:
        return replace(issue, line=None, origin=origin)
    while path and path not in lines:
        path = path[:-1]
    return replace(issue, line=lines.get(path) if path else issue.line)


def _issue_from_pydantic(err: ErrorDetails) -> ConfigIssue:
    path = _clean_loc(err["loc"])
    message, hint = err["msg"], None
    if err["type"] == "extra_forbidden":
        valid = _fields_at(err["loc"][:-1])
        message = f"unknown key '{path[-1]}'"
        entry = _table_entry(err["loc"])
        if entry:
            message = f"{entry} takes no key '{path[-1]}'"
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else (f"valid keys: {', '.join(valid)}" if valid else None)
    elif err["type"] == "union_tag_invalid":
        table = TABLES[str(path[-1])]  # the key whose entry name was wrong, e.g. 'optimizer'
        tag = str(err["ctx"]["tag"])
        message = f"unknown {table.kind} '{tag}'"
        close = difflib.get_close_matches(tag, table.names, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(table.names)}"
        path = path + ("name",)
    elif err["type"] == "missing":
        message = "this key is required"
    else:
        message = message.removeprefix("Value error, ")
        if "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
    return ConfigIssue(path, message, hint)


def _table_entry(loc: tuple[Any, ...]) -> str | None:
    """The table entry name in an error location such as ('train', 'optimizer', 'adam', 'momentum')."""
    for key, part in zip(loc, loc[1:]):
        if key in TABLES and part in TABLES[key].names:
            return part
    return None


def _clean_loc(loc: tuple[Any, ...]) -> KeyPath:
    """Drop pydantic's union-branch markers ('literal[...]', a table entry's name) from an error location."""
    kept = [p for i, p in enumerate(loc) if not (i and loc[i - 1] in TABLES and p in TABLES[loc[i - 1]].names)]
    return tuple(p for p in kept if isinstance(p, int) or ("[" not in p and p not in {"str", "dict[str,any]"}))


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the config section at a raw error location, for typo suggestions."""
    model: Any = RunConfig
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        if part in TABLES:  # the next part names the entry
            return list(TABLES[part].model(parts.pop(0)).model_fields) if parts else []
        if isinstance(model, type) and issubclass(model, BaseModel):
            continue
        for arg in getattr(model, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
        else:
            return []
    return list(getattr(model, "model_fields", {}))
