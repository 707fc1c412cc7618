"""`workbench cv` and `workbench clean` as real processes, as the README runs them: per-fold lines and mean ± std,
the findings as the JSON object the docs specify, suggested decisions that a config then applies, files untouched."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.data.decisions import read_decisions
from tests.core.clean_sets import (
    MODEL,
    checksums,
    colour_folder,
    flip_labels,
    near_copy,
)
from tests.e2e.test_cli import workbench

pytestmark = pytest.mark.e2e


def test_cv_then_clean_finds_the_planted_faults_and_the_decisions_apply(tmp_path: Path) -> None:
    data = tmp_path / "data"
    colour_folder(data, per_class=30)
    flipped = flip_labels(data, rate=0.05)
    copy = near_copy(data / "red/000.png", data / "red/copy-000.jpg")
    before = checksums(data)
    config = tmp_path / "colours.yaml"
    config.write_text(f"name: colours\ndata: {{source: folder, path: data, image_size: 8, batch_size: 16}}\n{MODEL}")

    crossed = workbench("cv", str(config), "--folds", "2", cwd=tmp_path)
    assert crossed.returncode == 0, crossed.stderr
    assert re.search(r"^fold 1/2: accuracy \d+\.\d\d% on \d+ held-out images", crossed.stdout, re.MULTILINE)
    assert re.search(r"^accuracy \d+\.\d\d% ± \d+\.\d\d% over 2 fold\(s\)$", crossed.stdout, re.MULTILINE)
    assert re.search(r"^  recall red +\d+\.\d\d% ± ", crossed.stdout, re.MULTILINE)
    [folder] = (tmp_path / "runs" / ".cv").iterdir()
    assert {"cv.json", "oof.csv"} <= {path.name for path in folder.iterdir()}

    cleaned = workbench("clean", str(config), "--json", "--write-decisions", "decisions.yaml", cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    findings = json.loads(cleaned.stdout)
    assert set(findings) == {"label_issues", "duplicates", "outliers"}
    assert all(set(issue) == {"path", "given", "suggested", "score"} for issue in findings["label_issues"])
    assert {str(path) for path in flipped} & {issue["path"] for issue in findings["label_issues"]}
    [group] = findings["duplicates"]
    assert sorted(group["paths"]) == sorted([str(data / "red/000.png"), str(copy)]) and group["kind"] == "near"
    assert isinstance(group["across_splits"], bool)
    assert all(set(outlier) == {"path", "score"} for outlier in findings["outliers"])

    decisions = read_decisions(tmp_path / "decisions.yaml")
    assert str(copy) in decisions.exclude or str(data / "red/000.png") in decisions.exclude
    config.write_text(config.read_text().replace("batch_size: 16", "batch_size: 16, exclude: decisions.yaml, "
                                                                   "relabel: decisions.yaml"))
    again = workbench("clean", str(config), "--csv", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rows = again.stdout.splitlines()
    assert rows[0] == "finding,path,given,suggested,score,group,across_splits"
    assert not any(row.startswith("near_duplicate,") for row in rows)
    assert checksums(data) == before


def test_clean_without_a_cross_validation_says_what_to_run(tmp_path: Path) -> None:
    colour_folder(tmp_path / "data", per_class=3)
    config = tmp_path / "colours.yaml"
    config.write_text(f"name: colours\ndata: {{source: folder, path: data}}\n{MODEL}")
    result = workbench("clean", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "no cross-validation of 'colours' in runs" in result.stderr and "workbench cv" in result.stderr
    assert workbench("cv", str(config), "--folds", "1", cwd=tmp_path).returncode == 2
