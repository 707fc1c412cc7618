"""The `sweep:` block of a config: what to optimise and the space to search, checked before the first trial.

    sweep:
      metric: val_accuracy        # or val_loss
      direction: maximize
      sampler: tpe                # random, grid, cmaes
      pruner: median              # successive_halving, hyperband, none
      space:
        train.optimizer.lr: {log_uniform: [1.0e-4, 0.3]}
        data.batch_size: {choice: [64, 128, 256]}

Keys are dotted config paths (list positions as numbers, `model.layers.5.dropout.p`). Every key
and every value a trial can sample is validated against the config schema here, so a typo is a
ConfigError naming the key and the nearest valid one, not a failed trial an hour later.
"""
from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from core import safe_yaml
from core.config import RunConfig, apply_override, validate_config
from core.errors import ConfigError, ConfigIssue, format_key_path
from core.schema import StrictModel

Value = bool | int | float | str  # what a `choice` may hold: Optuna stores these as they are
Suggest = Callable[[Any, str], Value]  # (optuna trial, key) -> the sampled value


class Dimension(StrictModel):
    """One searched key: exactly one of the distributions below."""

    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_uniform: tuple[int, int] | None = None
    choice: list[Value] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_distribution(self) -> Dimension:
        given = [name for name in DISTRIBUTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(DISTRIBUTIONS)}")
        if self.choice is not None:
            if len({json.dumps(value) for value in self.choice}) != len(self.choice):
                raise ValueError("choice lists a value twice")
            return self
        low, high = getattr(self, given[0])
        if not low < high:
            raise ValueError(f"{given[0]}: the range [{low}, {high}] must go from low to high")
        if self.log_uniform is not None and low <= 0:
            raise ValueError(f"log_uniform needs a positive low end, not {low}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in DISTRIBUTIONS if getattr(self, name) is not None)

    @property
    def bounds(self) -> Any:
        """A range's (low, high)."""
        return getattr(self, self.kind)

    def suggest(self, trial: Any, key: str) -> Value:
        """Sample this dimension through an Optuna trial (TPE, random, CMA-ES and grid all read the same calls)."""
        return DISTRIBUTIONS[self.kind](self, trial, key)

    def distribution(self) -> Any:
        """The Optuna distribution this dimension samples from (to rebuild trials, e.g. for importances)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choice is not None:
            return CategoricalDistribution(self.choice)
        if self.int_uniform is not None:
            return IntDistribution(*self.int_uniform)
        low, high = self.bounds
        return FloatDistribution(low, high, log=self.log_uniform is not None)

    def extremes(self) -> list[Value]:
        """The values that bound what can be sampled: both ends of a range, every choice."""
        return list(self.choice) if self.choice is not None else list(self.bounds)

    def grid(self) -> list[Value]:
        """The values a grid search walks; ranges are not enumerable, except small integer ones."""
        if self.choice is not None:
            return list(self.choice)
        if self.int_uniform is not None and self.int_uniform[1] - self.int_uniform[0] < 1000:
            return list(range(self.int_uniform[0], self.int_uniform[1] + 1))
        raise ValueError(f"a grid search takes choice lists (or int_uniform); {self.kind} has no grid")


# The distributions a space key takes: name -> how an Optuna trial samples it. Adding one is one entry here
# and one field on Dimension.
DISTRIBUTIONS: dict[str, Callable[[Dimension, Any, str], Value]] = {
    "uniform": lambda d, trial, key: trial.suggest_float(key, *d.bounds),
    "log_uniform": lambda d, trial, key: trial.suggest_float(key, *d.bounds, log=True),
    "int_uniform": lambda d, trial, key: trial.suggest_int(key, *d.bounds),
    "choice": lambda d, trial, key: trial.suggest_categorical(key, d.choice),
}
# what a trial reports each epoch, and its natural direction
METRICS: dict[str, Literal["maximize", "minimize"]] = {"val_accuracy": "maximize", "val_loss": "minimize"}


class SweepSpec(StrictModel):
    """The validated `sweep:` block."""

    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    direction: Literal["maximize", "minimize"] | None = None  # None: the metric's natural direction
    sampler: Literal["tpe", "random", "grid", "cmaes"] = "tpe"
    pruner: Literal["median", "successive_halving", "hyperband", "none"] = "median"
    seed: int | None = None  # the sampler's seed; None: a different search each time
    space: dict[str, Dimension] = Field(min_length=1)

    @model_validator(mode="after")
    def _grid_is_enumerable(self) -> SweepSpec:
        if self.direction is None:
            self.direction = METRICS[self.metric]
        if self.sampler == "grid":
            for key, dimension in self.space.items():
                try:
                    dimension.grid()
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        return self

    def sample(self, trial: Any) -> dict[str, Value]:
        """One point of the space, drawn through an Optuna trial, by key in the block's order."""
        return {key: dimension.suggest(trial, key) for key, dimension in self.space.items()}

    def grid(self) -> dict[str, list[Value]]:
        return {key: dimension.grid() for key, dimension in self.space.items()}


def read_sweep(raw: dict[str, Any], source: str | None = None) -> SweepSpec:
    """The `sweep:` block of raw config data, validated, with every key and sampled extreme checked
    against the config schema on `raw`; raises ConfigError naming `sweep.<...>` keys."""
    block = raw.get("sweep")
    if not isinstance(block, dict):
        hint = "add a sweep: block with metric, direction, sampler, pruner and space (see the README's Sweeps)"
        raise ConfigError([ConfigIssue(("sweep",), "the config has no sweep: block" if block is None
                                       else "sweep: must be a mapping", hint=hint)], source)
    try:
        spec = SweepSpec.model_validate(block)
    except ValidationError as exc:
        raise ConfigError([_block_issue(err) for err in exc.errors()], source) from None
    base = without_sweep(raw)
    issues: list[ConfigIssue] = []
    for key, dimension in spec.space.items():
        for value in dimension.extremes():
            try:
                apply_values(base, {key: value})
            except ConfigError as exc:
                issues += [_at_space_key(issue, key, value) for issue in exc.issues]
                break  # one problem per key: its first bad value says it
    if issues:
        raise ConfigError(issues, source)
    return spec


def apply_values(raw: dict[str, Any], values: dict[str, Value]) -> RunConfig:
    """The RunConfig of raw config data with `values` set at their dotted keys (raw is left as it was)."""
    trial_raw = without_sweep(raw)
    origins = {apply_override(trial_raw, set_argument(key, value)): f"sweep.space.{key}"
               for key, value in values.items()}
    return validate_config(trial_raw, origins=origins)


def with_values(raw: dict[str, Any], values: dict[str, Value]) -> RunConfig:
    """apply_values, keeping the sweep: block: the config being edited, moved to a trial's point."""
    return apply_values(raw, values).model_copy(update={"sweep": copy.deepcopy(raw.get("sweep"))})


def set_argument(key: str, value: Value) -> str:
    """The `--set` argument that gives `key` this value (JSON is YAML, so it reads back exactly)."""
    return f"{key}={json.dumps(value)}"


def without_sweep(raw: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of raw config data without its sweep: block: a trial's own config."""
    return {key: copy.deepcopy(value) for key, value in raw.items() if key != "sweep"}


def load_raw(text: str, overrides: Sequence[str] = (), source: str | None = None) -> dict[str, Any]:
    """A config file's raw data with `--set` overrides applied (validated as a whole by read_sweep's checks)."""
    raw = safe_yaml.load(text, source)
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue((), "the config must be a mapping of keys (name, data, model, train)")], source)
    for override in overrides:
        apply_override(raw, override, source)
    validate_config(raw, source=source)  # the config itself first: its own mistakes are named as such
    return raw


def _at_space_key(issue: ConfigIssue, key: str, value: Value) -> ConfigIssue:
    """A schema problem found while trying `value` at `key`, told as the sweep key that causes it."""
    where = format_key_path(issue.path)
    return ConfigIssue(("sweep", "space", key), f"{where}: {issue.message} (trying {value!r})", hint=issue.hint)


def _block_issue(err: Any) -> ConfigIssue:
    """One pydantic error in the sweep: block as a ConfigIssue; an unknown key gets the nearest valid one."""
    path = ("sweep", *(part for part in err["loc"] if "[" not in str(part)))  # no `function-after[...]` markers
    if err["type"] != "extra_forbidden":
        return ConfigIssue(path, err["msg"].removeprefix("Value error, "))
    valid = list(DISTRIBUTIONS) if len(path) == 4 else list(SweepSpec.model_fields)
    close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
    return ConfigIssue(path, f"unknown key '{path[-1]}'", hint=hint)
