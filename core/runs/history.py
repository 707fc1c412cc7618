"""The runs under a runs folder, read back from their directories: summaries, details, comparisons, deletion.

Every file name comes from `core.runs.rundir.RunDir`. Reading never writes: a run that another process
is writing is read as it is at that moment.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core import safe_yaml
from core.data.sources import SOURCES
from core.errors import ConfigError, WorkbenchError
from core.runs.liveness import observed_state
from core.runs.rundir import RunDir, RunState, run_dirs



class HistoryError(WorkbenchError):
    """A run that cannot be deleted (running, not a run directory, outside the runs folder)."""


@dataclass(frozen=True)
class RunSummary:
    """One run directory as its status.json, config.yaml and metrics.csv describe it."""

    path: Path
    state: str  # a RunState, or the text of a state this version does not know
    epochs: int | None
    epochs_done: int
    best_val_accuracy: float | None
    started: str
    error: str | None
    ended: str = ""
    run_name: str = ""  # the config's name
    dataset: str = ""  # the data source in a word or two: shapes, cifar10, folder name
    model: str = ""  # torchvision name, module class, or "N layers"
    seconds: float | None = None  # how long it ran (so far, for a running run)

    @property
    def name(self) -> str:
        """The run directory's name (time stamp and config name)."""
        return self.path.name

    @property
    def failed_early(self) -> bool:
        """Failed, aborted or killed before its first epoch ended: nothing in it worth keeping."""
        state = RunState.of(self.state)
        return state is not None and state.failed and self.epochs_done == 0


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    kind: str  # best or last
    size: int


@dataclass(frozen=True)
class EvaluationSummary:
    """What evaluation.json (written by `workbench evaluate` and the Evaluate view) says, in brief."""

    accuracy: float
    top5_accuracy: float | None
    images: int
    data: str
    confused_pairs: list[tuple[str, str, int]]


@dataclass(frozen=True)
class RunDetails:
    summary: RunSummary
    config: dict[str, Any] | None  # the resolved config as plain data; None when config.yaml is unreadable
    config_text: str  # config.yaml as written (or why it cannot be read)
    metrics: list[dict[str, float]]
    checkpoints: list[Checkpoint]
    evaluation: EvaluationSummary | None
    files: list[str] = field(default_factory=list)  # the run directory's entries


@dataclass(frozen=True)
class ConfigDifference:
    key: str  # dotted path, list positions as [i]
    first: Any  # the value in the first run (None: not set)
    second: Any


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run directory (one with a status.json) under runs_dir, newest first."""
    summaries = [summary for summary in (read_summary(run.path) for run in run_dirs(runs_dir)) if summary is not None]
    return sorted(summaries, key=lambda summary: (summary.started, summary.name), reverse=True)


def read_summary(run_dir: Path) -> RunSummary | None:
    """A run's summary, or None when the folder is not a run directory."""
    run = RunDir(Path(run_dir))
    try:
        status = json.loads(run.status_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    state = observed_state(status, run.path)
    metrics: list[dict[str, float]] | None = None
    best = status.get("best_val_accuracy")
    if best is None:
        metrics = read_metrics(run.path)
        best = max((row["val_accuracy"] for row in metrics if "val_accuracy" in row), default=None)
    config = _config_facts(run)
    started, ended = str(status.get("started") or ""), str(status.get("ended") or "")
    return RunSummary(path=run.path, state=state, epochs=status.get("epochs"),
                      epochs_done=int(status.get("epochs_done") or 0), best_val_accuracy=best,
                      started=started, ended=ended, error=status.get("error"),
                      run_name=config.get("name", ""), dataset=config.get("dataset", ""),
                      model=config.get("model", ""), seconds=_seconds(status, state, run.path, metrics))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as one dict of numbers per epoch (empty when missing or not CSV; bad cells are left out)."""
    try:
        with RunDir(Path(run_dir)).metrics_path.open(newline="", encoding="utf-8", errors="replace") as handle:
            return [_numbers(row) for row in csv.DictReader(handle)]
    except (OSError, csv.Error):
        return []


def list_checkpoints(runs_dir: Path) -> list[Path]:
    """Every run's best.pt and last.pt under runs_dir, most recently written first."""
    paths = [path for summary in list_runs(runs_dir) for path in RunDir(summary.path).checkpoints()]
    return sorted(paths, key=_mtime, reverse=True)


def read_details(run_dir: Path) -> RunDetails | None:
    """Everything the Runs screen shows about one run; None when it is not (or no longer) a run directory."""
    summary = read_summary(run_dir)
    if summary is None:
        return None
    run = RunDir(summary.path)
    config, text = read_run_config(run.path)
    checkpoints = []
    for kind in RunDir.CHECKPOINT_KINDS:
        path = run.checkpoint_path(kind)
        try:
            checkpoints.append(Checkpoint(path, kind, path.stat().st_size))
        except OSError:
            continue
    try:
        files = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in os.scandir(run.path))
    except OSError:
        files = []
    return RunDetails(summary, config, text, read_metrics(run.path), checkpoints, read_evaluation(run.path), files)


def read_run_config(run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """(the resolved config as plain data, its text); (None, why) when config.yaml cannot be read."""
    try:
        text = safe_yaml.read_text(RunDir(Path(run_dir)).config_path)
        plain = safe_yaml.load(text)
    except ConfigError as exc:
        return None, f"{RunDir.CONFIG}: {exc.issues[0].describe()}"
    return (plain if isinstance(plain, dict) else None), text


def read_evaluation(run_dir: Path) -> EvaluationSummary | None:
    """The run's latest evaluation, if it has one."""
    try:
        data = json.loads(RunDir(Path(run_dir)).evaluation_path.read_text())
        return EvaluationSummary(
            accuracy=float(data["accuracy"]), top5_accuracy=_float(data.get("top5_accuracy")),
            images=sum(int(row.get("support", 0)) for row in data.get("per_class", [])),
            data=str(data.get("data", "")),
            confused_pairs=[(str(a), str(b), int(n)) for a, b, n in data.get("confused_pairs", [])[:3]])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def compare_configs(first: dict[str, Any] | None, second: dict[str, Any] | None) -> list[ConfigDifference]:
    """The keys at which two runs' resolved configs differ, flattened to dotted paths, in config order."""
    from core.train.resume import differing_keys  # loads torch: only when comparing

    first, second = first or {}, second or {}
    return [ConfigDifference(_dotted(path), _at(first, path), _at(second, path))
            for path in differing_keys(first, second)]


def delete_run(runs_dir: Path, run_dir: Path) -> None:
    """Delete a run directory for good; HistoryError when it is running, outside runs_dir or not a run."""
    runs_root = Path(runs_dir).resolve()
    run_dir = Path(run_dir)
    if run_dir.is_symlink():
        raise HistoryError(f"{run_dir} is a link, not a run directory; nothing deleted")
    if run_dir.resolve().parent != runs_root or run_dir.name.startswith("."):
        raise HistoryError(f"{run_dir} is not a run directory inside {runs_root}; nothing deleted")
    run = RunDir(runs_root / run_dir.name)
    if not run.is_run:
        raise HistoryError(f"{run.path} has no status.json, so it is not a run directory; nothing deleted")
    summary = read_summary(run.path)
    if summary is None or summary.state == RunState.RUNNING:
        raise HistoryError(f"{run.path.name} is running; stop it first (t follows it, x stops it)")
    try:
        shutil.rmtree(run.path)  # removes links inside, never what they point to
    except OSError as exc:
        raise HistoryError(f"could not delete {run.path}: {exc.strerror or exc}") from exc


def describe_state(summary: RunSummary) -> str:
    """The state as a word for the table: 'failed early' for a run that never finished an epoch."""
    if summary.failed_early:
        return "failed early"
    return "ended?" if summary.state == RunState.ENDED_UNEXPECTEDLY else summary.state


def format_seconds(seconds: float | None) -> str:
    """9s, 12m05s, 3h02m; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def dataset_text(data: dict[str, Any]) -> str:
    """A data config in a word or two: 'shapes', 'cifar10', the folder's or CSV file's name, 'ants+bees'."""
    sources = data.get("sources") or []
    if sources:
        return "+".join(dataset_text(source) for source in sources if isinstance(source, dict))
    source, path = str(data.get("source") or "?"), data.get("path")
    entry = SOURCES[source] if source in SOURCES.names else None
    if entry is None or not entry.needs_path or not path:
        return source  # a set of its own (shapes, cifar10) goes by the source's name
    name = Path(str(path)).name
    return Path(name).stem if entry.reads_file else name or source


def model_text(model: dict[str, Any]) -> str:
    """A model config in a word: the torchvision name, the module's class, or 'N layers'."""
    if isinstance(model.get("torchvision"), dict):
        return str(model["torchvision"].get("name", "torchvision"))
    if model.get("module"):
        return str(model["module"]).rpartition(":")[2]
    return f"{len(model.get('layers') or [])} layers"


_config_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def _config_facts(run: RunDir) -> dict[str, str]:
    """The config's name, dataset and model in words, cached until config.yaml changes."""
    try:
        stat = run.config_path.stat()
    except OSError:
        return {}
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _config_cache.get(run.path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    plain, _ = read_run_config(run.path)
    facts: dict[str, str] = {}
    if plain is not None:
        facts["name"] = str(plain.get("name") or "")
        if isinstance(plain.get("data"), dict):
            facts["dataset"] = dataset_text(plain["data"])
        if isinstance(plain.get("model"), dict):
            facts["model"] = model_text(plain["model"])
    _config_cache[run.path] = (stamp, facts)
    return facts


def _seconds(status: dict[str, Any], state: str, run_dir: Path, metrics: list[dict[str, float]] | None) -> float | None:
    """How long the run has trained; a resumed run from before `earlier_seconds` was recorded: its epochs summed."""
    if status.get("resumed") and not isinstance(status.get("earlier_seconds"), (int, float)):
        rows = read_metrics(run_dir) if metrics is None else metrics
        return sum(row.get("seconds", 0.0) for row in rows) if rows else None
    return trained_seconds(status, running=state == RunState.RUNNING)


def trained_seconds(status: dict[str, Any], running: bool) -> float | None:
    """Wall time from the latest start (or resume) to its end, to now while running, plus the time before a resume
    (`earlier_seconds`): the pauses between a stop and a resume do not count."""
    started = _time(status.get("resumed") or status.get("started"))
    ended = _time(status.get("ended")) or (datetime.now().astimezone() if running else None)
    if started is None or ended is None:
        return None
    earlier = status.get("earlier_seconds") if status.get("resumed") else 0.0
    return (earlier if isinstance(earlier, (int, float)) else 0.0) + max(0.0, (ended - started).total_seconds())


def _time(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.astimezone()


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _at(plain: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(plain, dict) and part in plain:
            plain = plain[part]
        elif isinstance(plain, list) and isinstance(part, int) and part < len(plain):
            plain = plain[part]
        else:
            return None
    return plain


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _numbers(row: dict[str, str]) -> dict[str, float]:
    numbers = {}
    for key, text in row.items():
        try:
            numbers[key] = float(text)
        except (TypeError, ValueError):
            continue
    return numbers


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
