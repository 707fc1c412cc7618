"""Reviewing findings: what a mark decides for a finding's files, and where a new decisions file goes."""
from __future__ import annotations

from pathlib import Path

from core.clean.review import Finding, decision_states, marked, new_decisions_path, redecided
from core.data.decisions import Decisions
from core.prepare.workspace import DEMO_CONFIG

ISSUE = Finding("label", ["cat/1.jpg"], ["cat"], "given cat, likely dog", "dog")
COPIES = Finding("duplicate", ["cat/2.jpg", "cat/2-copy.jpg", "cat/2-small.jpg"], ["cat", "cat", "cat"], "near")
TWO_LABELS = Finding("duplicate", ["cat/3.jpg", "dog/3.jpg"], ["cat", "dog"], "exact")


def test_a_mark_decides_for_every_file_of_the_finding() -> None:
    assert marked(ISSUE, "exclude") == Decisions(exclude=["cat/1.jpg"])
    assert marked(ISSUE, "relabel", "dog") == Decisions(relabel={"cat/1.jpg": "dog"})
    assert marked(ISSUE, "relabel", "cat") == Decisions(keep=["cat/1.jpg"])  # its own class: kept
    assert marked(COPIES, "keep") == Decisions(keep=COPIES.paths)
    assert marked(COPIES, "exclude") == Decisions(exclude=COPIES.paths[1:])  # the first copy stays
    assert marked(TWO_LABELS, "exclude") == Decisions(exclude=TWO_LABELS.paths)  # no copy is right
    assert marked(TWO_LABELS, "relabel", "dog") == Decisions(exclude=["dog/3.jpg"], relabel={"cat/3.jpg": "dog"})


def test_deciding_again_replaces_the_files_earlier_decisions_by_any_spelling(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = Decisions(exclude=["./cat/1.jpg", "other.jpg"], relabel={"cat/../cat/1.jpg": "dog"}, keep=["kept.jpg"])
    now = redecided(earlier, ISSUE, marked(ISSUE, "keep"))
    assert now == Decisions(exclude=["other.jpg"], keep=["kept.jpg", "cat/1.jpg"])
    states = decision_states(now)
    assert states[str(tmp_path / "cat" / "1.jpg")] == "kept" and states[str(tmp_path / "other.jpg")] == "excluded"


def test_a_new_decisions_file_goes_beside_the_config_and_never_over_a_file(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "pets.yaml"
    assert new_decisions_path(config, "pets") == tmp_path / "pets-decisions.yaml"
    (tmp_path / "pets-decisions.yaml").write_text("exclude: []\n")
    assert new_decisions_path(config, "pets") == tmp_path / "pets-decisions-2.yaml"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert new_decisions_path(DEMO_CONFIG, "shapes") == work / "shapes-decisions.yaml"  # examples stay as shipped
    assert new_decisions_path(None, "shapes") == work / "shapes-decisions.yaml"
