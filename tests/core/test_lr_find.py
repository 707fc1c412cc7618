"""The learning-rate finder on tiny generated data, its suggestion rule, its files and its text chart."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from core.errors import WorkbenchError
from core.prepare.lr_find import LrFindResult, find_lr, suggest, write_curve
from workbench.commands.lr_find import DIVERGED, MARK, POINT, loss_chart


def test_sweep_is_reproducible_and_suggests_an_lr_inside_it(tiny) -> None:
    seen: list[tuple[int, int]] = []
    result = find_lr(tiny(), start_lr=1e-5, end_lr=1.0, steps=30,
                     progress=lambda step, steps: seen.append((step, steps)))
    assert len(result.lrs) == len(result.losses) == len(seen) and seen[0] == (1, 30)
    assert result.lrs[0] == pytest.approx(1e-5) and all(a < b for a, b in zip(result.lrs, result.lrs[1:]))
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1] and result.reason
    assert find_lr(tiny(), start_lr=1e-5, end_lr=1.0, steps=30) == result


def test_sweep_stops_early_when_the_loss_diverges(tiny) -> None:
    result = find_lr(tiny("train.optimizer={name: sgd, lr: 0.1}"), start_lr=1.0, end_lr=10.0,
                     steps=200)
    assert len(result.lrs) < 200
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]


def test_should_stop_ends_the_sweep(tiny) -> None:
    calls = iter(range(1000))
    result = find_lr(tiny(), steps=50, should_stop=lambda: next(calls) >= 12)
    assert len(result.lrs) == 12
    with pytest.raises(WorkbenchError, match="before its first step"):
        find_lr(tiny(), should_stop=lambda: True)


@pytest.mark.parametrize(("options", "named"), [
    ({"steps": 9}, "steps"), ({"steps": 1001}, "steps"), ({"start_lr": 0.0}, "start_lr"),
    ({"start_lr": 1e-3, "end_lr": 1e-4}, "end_lr"), ({"end_lr": 100.0}, "end_lr")])
def test_bad_options_are_rejected_by_name(tiny, options: dict, named: str) -> None:
    with pytest.raises(WorkbenchError, match=named):
        find_lr(tiny(), **options)


def test_suggestion_is_the_steepest_descent_else_a_tenth_of_the_best() -> None:
    lrs = [10.0 ** (k / 4) for k in range(-28, 1)]  # 1e-7 .. 1
    falling = [2.0 - math.tanh(math.log10(lr) + 3) for lr in lrs]  # steepest at 1e-3
    assert suggest(lrs, falling) == (pytest.approx(1e-3), "steepest descent of the smoothed loss")
    recovering = [2.0 - 0.02 * k for k in range(16)] + [3.0, 4.0, 5.0, 3.0, 1.8, 1.8, 1.9] + [1.9] * 6
    assert suggest(lrs, recovering)[0] <= lrs[15]  # the fall after a blow-up is not a descent
    rising = [1.0 + lr for lr in lrs]
    assert suggest(lrs, rising) == (lrs[0], "a tenth of the lr with the lowest loss")
    assert suggest([0.5], [1.0])[0] == 0.5


def test_curve_files(tmp_path: Path) -> None:
    result = LrFindResult([1e-4, 1e-3, 1e-2], [2.0, 1.5, 3.0], 1e-3, "steepest descent of the smoothed loss")
    write_curve(result, tmp_path / "sweep" / "lr_find.csv")
    with (tmp_path / "sweep" / "lr_find.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["step"]), float(r["lr"]), float(r["loss"])) for r in rows] == [(1, 1e-4, 2.0), (2, 1e-3, 1.5),
                                                                                  (3, 1e-2, 3.0)]
    summary = json.loads((tmp_path / "sweep" / "lr_find.json").read_text())
    assert summary["suggestion"] == 1e-3 and summary["steps"] == 3 and summary["lr_range"] == [1e-4, 1e-2]


def test_chart_has_axes_ticks_and_the_mark_within_80_columns() -> None:
    lrs = [1e-7 * 10 ** (8 * k / 99) for k in range(100)]
    losses = [1.6 - 0.5 * math.exp(-((math.log10(lr) + 2) ** 2)) for lr in lrs[:-1]] + [20.0]
    lines = loss_chart(lrs, losses, mark=1e-3)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == "loss" and sum("┤" in line for line in lines) >= 3
    axis, ticks = lines[-3], lines[-2]
    assert "└" in axis and axis.count("┬") >= 5 and "1e-7" in ticks and "1e0" in ticks
    assert sum(MARK in line for line in lines) >= 10
    assert "lr (log scale)" in lines[-1] and "0.001" in lines[-1]


def test_chart_fits_the_curve_before_it_diverges_and_marks_where() -> None:
    lrs = [1e-6 * 10 ** (6 * k / 59) for k in range(60)]
    dip = [2.3 - 0.8 * math.exp(-((math.log10(lr) + 2) ** 2)) for lr in lrs[:50]]
    losses = dip + [2.3 * 1.6 ** k for k in range(1, 11)]  # a steep climb to 250
    lines = loss_chart(lrs, losses)
    plot = lines[1:18]
    assert float(plot[0].split()[0]) == pytest.approx(2.3, abs=0.01)  # the top is the start, not the climb
    assert float(plot[-1].split()[0]) == pytest.approx(1.5, abs=0.01)
    assert plot[0].count(DIVERGED) == 1 and sum(POINT in line for line in plot[8:]) >= 5  # the dip fills the chart
    assert lines[-1].endswith(f"{DIVERGED} diverges at lr {lrs[50]:.3g}")


@pytest.mark.parametrize(("lrs", "losses"), [([1e-3], [1.0]), ([1e-3, 2e-3, 3e-3], [1.0, 1.0, 1.0])])
def test_chart_copes_with_a_point_a_flat_curve_and_no_decade(lrs: list[float], losses: list[float]) -> None:
    lines = loss_chart(lrs, losses, mark=lrs[0], width=60)
    assert all(len(line) <= 60 for line in lines) and "0.001" in lines[-2]
