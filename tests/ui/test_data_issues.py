"""The Data screen's Issues view at 80x24: the latest cross-validation's findings, marked keep / exclude / relabel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from screen_text import assert_footer_fits, screen_lines
from textual.widgets import OptionList, Static
from waiting import wait_until

from core.clean.cv_folder import CvFolder, OutOfFold
from core.config import parse_config
from core.data.decisions import read_decisions
from core.data.sources import list_data
from core.prepare.workspace import Workspace
from screens.data import DataScreen
from screens.data_issues import ClassPicker, IssuesScreen
from tests.core.clean_sets import MODEL, checksums, colour_folder, flip_labels, near_copy
from workbench.app import WorkbenchApp

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    """Four colour classes of 8 textures, 3 of them in a wrong class's folder, and a near copy of one."""
    root = colour_folder(tmp_path / "colours", per_class=8, side=16)
    flip_labels(root, 0.1)
    near_copy(root / "blue" / "000.png", root / "blue" / "copy.jpg")
    return root


def cross_validated(config, runs_dir: Path) -> None:
    """A cross-validation folder whose out-of-fold model knows each image's true colour (its texture's)."""
    listing = list_data(config.data, config.seed)
    folder = CvFolder.new(runs_dir, config.name)
    folder.write_summary({"name": config.name, "folds": 2})
    paths = [str(sample.path) for sample in listing.train]
    true = [listing.classes.index(Path(path).name.split("-")[1]) if Path(path).name.startswith("flipped-")
            else sample.label for path, sample in zip(paths, listing.train)]
    probabilities = np.full((len(paths), len(listing.classes)), 0.02)
    probabilities[np.arange(len(paths)), true] = 0.94
    folder.write_oof(OutOfFold(listing.classes, paths, [s.label for s in listing.train],
                               [1 + i % 2 for i in range(len(paths))], probabilities))


def entries(screen: IssuesScreen) -> list[str]:
    findings = screen.query_one("#findings", OptionList)
    return [findings.get_option_at_index(i).prompt.plain for i in range(findings.option_count)]


def counts(screen: IssuesScreen) -> dict[str, tuple[int, int]]:
    """Each class's (and all's) training images before and after the decisions, as the counts box shows them."""
    lines = str(screen.query_one("#issues-counts", Static).content).splitlines()
    return {name: (int(before.split("/")[0]), int(after.split("/")[0]))
            for name, before, _, after in (line.split() for line in lines)}


async def test_marking_findings_writes_the_decisions_file_and_changes_the_counts(tmp_path: Path, colours: Path):
    config = parse_config(f"name: colours\ndata: {{source: folder, path: {colours}, image_size: [16, 16]}}\n{MODEL}")
    cross_validated(config, tmp_path / "runs")
    before = checksums(colours)
    app = WorkbenchApp(Workspace(config, tmp_path / "colours.yaml"), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DataScreen), deadline=15)
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, IssuesScreen)
        await wait_until(pilot, lambda: "all" in counts(screen), deadline=30)
        files = counts(screen)["all"][0]
        assert counts(screen)["all"] == (files, files)
        listed = entries(screen)
        assert listed[0] == f"label issues ({sum(f.kind == 'label' for f in screen.review.findings)})"
        assert "duplicates (1)" in listed and any(entry.startswith("outliers (") for entry in listed)
        await assert_footer_fits(pilot)
        assert "Issues" not in screen_lines(app)[-1]  # the view's own keys, not the Data screen's

        issue = screen.selected()  # the first label issue: relabelled to its likely class
        assert issue is not None and issue.kind == "label" and issue.suggested is not None
        await pilot.press("r")
        file = tmp_path / "colours-decisions.yaml"
        given, suggested = counts(screen)[issue.classes[0]], counts(screen)[issue.suggested]
        await wait_until(pilot, lambda: counts(screen)[issue.classes[0]] == (given[0], given[0] - 1), deadline=15)
        assert counts(screen)[issue.suggested] == (suggested[0], suggested[0] + 1)
        assert counts(screen)["all"] == (files, files)
        assert read_decisions(file).relabel == {issue.paths[0]: issue.suggested}
        assert app.workspace.dirty and app.workspace.config.data.exclude == str(file)
        assert app.workspace.config.data.relabel == str(file)
        assert entries(screen)[1].startswith("→")

        excluded = screen.selected()  # the view moved on to the next finding: left out
        assert excluded is not None
        await pilot.press("x")
        await wait_until(pilot, lambda: counts(screen)["all"] == (files, files - 1), deadline=15)
        assert read_decisions(file).exclude == excluded.paths and entries(screen)[2].startswith("✗")

        kept = screen.selected()
        assert kept is not None
        await pilot.press("k")
        await wait_until(pilot, lambda: read_decisions(file).keep == kept.paths, deadline=15)
        assert counts(screen)["all"] == (files, files - 1)

        picked = screen.selected()  # the duplicate group: its first copy relabelled, the other left out
        assert picked is not None and picked.kind == "duplicate"
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ClassPicker), deadline=15)
        await pilot.press("down", "enter")  # the second class
        second = screen.review.files.classes[1]
        expected = {picked.paths[0]: second} if picked.classes[0] != second else {}
        await wait_until(pilot, lambda: isinstance(app.screen, IssuesScreen)
                         and read_decisions(file).relabel == {issue.paths[0]: issue.suggested, **expected}, deadline=15)
        assert read_decisions(file).exclude == excluded.paths + picked.paths[1:]  # earlier decisions stay

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DataScreen), deadline=15)
        data = app.screen
        await wait_until(pilot, lambda: data.view is not None and len(data.view) == 4 * 8 + 1 - 2, deadline=15)
    assert checksums(colours) == before


async def test_without_a_cross_validation_the_view_says_how_to_make_one(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, IssuesScreen)
        status = screen.query_one("#issues-status", Static)
        await wait_until(pilot, lambda: "workbench cv" in str(status.content), deadline=15)
        assert "--folds 3" in str(status.content) and status.has_class("error")
        text = "\n".join(screen_lines(app))
        assert "workbench cv CONFIG --folds 3" in text  # whole at 80 columns
        await pilot.press("k")  # nothing to mark: nothing happens
        assert not app.workspace.dirty
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DataScreen), deadline=15)
