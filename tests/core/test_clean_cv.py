"""Cross-validation and the findings from it, on a set with planted faults: one row per training image, mislabelled
images found with precision and recall above 0.8, a model's leaked validation accuracy measured, files unchanged."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from core.clean.cv import cross_validate
from core.clean.cv_folder import CvFolder, latest_cv
from core.clean.findings import Findings, from_cv, from_model
from core.config import RunConfig, parse_config
from core.data.decisions import Decisions, read_decisions, sample_name, write_decisions
from core.data.sources import list_data
from core.use.inference import load_model
from tests.core.clean_sets import MODEL, checksums, colour_folder, flip_labels, near_copy, stranger

FOLDS = 3


@dataclass
class Crossed:
    config: RunConfig
    root: Path
    flipped: set[Path]
    folder: CvFolder
    findings: Findings
    before: dict[str, str]  # checksums of the data before anything ran


def config_for(data: Path, extra: str = "") -> RunConfig:
    return parse_config(f"name: colours\nseed: 1\ndata: {{source: folder, path: {data}, image_size: 8, batch_size: 16"
                        f"{extra}}}\n{MODEL}")


@pytest.fixture(scope="module")
def crossed(tmp_path_factory: pytest.TempPathFactory) -> Crossed:
    root = tmp_path_factory.mktemp("clean")
    colour_folder(root / "data", per_class=40)
    flipped = flip_labels(root / "data", rate=0.05)
    before = checksums(root / "data")
    config = config_for(root / "data")
    result = cross_validate(config, root / "runs", FOLDS, emit=lambda event: None, should_stop=lambda: False)
    assert result.complete
    return Crossed(config, root, flipped, result.folder, from_cv(config, result.folder), before)


def test_every_training_image_has_one_out_of_fold_row(crossed: Crossed) -> None:
    pool = list_data(crossed.config.data, crossed.config.seed).train
    oof = crossed.folder.read_oof()
    assert sorted(oof.paths) == sorted(sample_name(s, "train", i) for i, s in enumerate(pool))
    assert len(set(oof.paths)) == len(oof) == len(pool)
    assert sorted(set(oof.folds)) == [1, 2, 3] and abs(oof.probabilities.sum(axis=1) - 1).max() < 1e-4
    summary = json.loads(crossed.folder.summary_path.read_text())
    accuracies = [fold["accuracy"] for fold in summary["per_fold"]]
    assert summary["accuracy"] == pytest.approx({"mean": statistics.fmean(accuracies),
                                                 "std": statistics.stdev(accuracies)})
    assert sum(fold["images"] for fold in summary["per_fold"]) == len(pool)
    assert set(summary["recall"]) == set(summary["classes"]) and summary["complete"]
    for fold in summary["per_fold"]:  # each fold an ordinary run inside the cross-validation folder
        run = Path(fold["run_dir"])
        assert run.parent == crossed.folder.path and (run / "checkpoints" / "best.pt").is_file()
    assert latest_cv(crossed.root / "runs", "colours") == crossed.folder


def test_planted_label_flips_are_found(crossed: Crossed) -> None:
    pool = {str(s.path) for s in list_data(crossed.config.data, crossed.config.seed).train}
    planted = {str(path) for path in crossed.flipped} & pool  # flips in val are not cross-validated
    found = {issue.path for issue in crossed.findings.label_issues}
    hits = len(found & planted)
    assert len(planted) >= 5 and hits / len(found) > 0.8 and hits / len(planted) > 0.8
    for issue in crossed.findings.label_issues:
        if issue.path in planted:  # flip_labels names the true class in the file name
            assert Path(issue.path).name.startswith(f"flipped-{issue.suggested}-") and issue.given != issue.suggested
    assert [i.score for i in crossed.findings.label_issues] == sorted((i.score for i in crossed.findings.label_issues),
                                                                       reverse=True)


def test_decisions_applied_leave_nothing_to_suggest_and_files_untouched(crossed: Crossed) -> None:
    decisions = crossed.root / "decisions.yaml"
    write_decisions(decisions, crossed.findings.suggested_decisions())
    assert set(read_decisions(decisions).relabel) >= {i.path for i in crossed.findings.label_issues
                                                      if i.path not in read_decisions(decisions).exclude}
    decided = config_for(crossed.root / "data", f", exclude: {decisions}, relabel: {decisions}")
    again = from_cv(decided, crossed.folder)  # the same out-of-fold rows, judged by the relabelled classes
    assert {i.path for i in again.label_issues}.isdisjoint(read_decisions(decisions).relabel)
    assert checksums(crossed.root / "data") == crossed.before


def test_a_model_measures_how_much_leaked_images_inflate_validation(crossed: Crossed, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for split in ("train", "val"):
        colour_folder(data / split, per_class=8, seed={"train": 5, "val": 6}[split])
    copies = [near_copy(data / "train/red/000.png", data / "val/blue/leaked-red.jpg"),  # leaked, and mislabelled
              near_copy(data / "train/green/001.png", data / "val/green/leaked-green.jpg")]
    strangers = {str(stranger(data / "train/yellow/stranger.png")), str(stranger(data / "val/red/stranger.png", 1))}
    model = load_model(Path(json.loads(crossed.folder.summary_path.read_text())["per_fold"][0]["run_dir"]),
                       device="cpu")
    findings = from_model(config_for(data), model)
    assert "weaker" in findings.evidence
    leaks = [g for g in findings.duplicates if g.across_splits]
    assert sorted(Path(p).name for g in leaks for p in g.paths if "leaked" in p) == sorted(c.name for c in copies)
    assert strangers <= {outlier.path for outlier in findings.outliers}  # far from every image, by its features
    leak = findings.leakage
    assert leak is not None and leak.leaked == 2 and leak.val == 35
    right_without = round(leak.accuracy_without * (leak.val - leak.leaked))
    assert leak.accuracy == pytest.approx((right_without + 1) / leak.val)  # the green copy right, the "blue" one not
    assert leak.inflation == pytest.approx(leak.accuracy - leak.accuracy_without)


def test_files_marked_keep_are_not_suggested_again(crossed: Crossed) -> None:
    first, *rest = crossed.findings.label_issues
    decisions = crossed.root / "kept.yaml"
    write_decisions(decisions, Decisions(keep=[first.path]))
    again = from_cv(config_for(crossed.root / "data", f", relabel: {decisions}"), crossed.folder)
    assert [issue.path for issue in again.label_issues] == [issue.path for issue in rest]


def test_a_budget_is_each_folds_own(tmp_path: Path) -> None:
    """train.budget counts from each fold's start: the last fold trains its planned steps, not what the first left."""
    colour_folder(tmp_path / "data", per_class=12)
    config = parse_config(yaml.safe_dump(config_for(tmp_path / "data").to_plain()), ["train.budget=4s", "train.epochs=1000"])
    result = cross_validate(config, tmp_path / "runs", 2, emit=lambda event: None, should_stop=lambda: False)
    assert result.complete
    for fold in json.loads(result.folder.summary_path.read_text())["per_fold"]:
        events = [json.loads(line) for line in (Path(fold["run_dir"]) / "events.jsonl").read_text().splitlines()]
        plan = [event for event in events if event["type"] == "budget_planned"][-1]
        assert plan["steps"] > 1, fold["run_dir"]  # a fold counting from the command's start would plan none
        assert events[-1]["type"] == "run_finished" and events[-1]["reason"] == "time budget spent"
