"""Every example in configs/ validates and its model passes the shape checks (no data needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config
from core.prepare.preflight import check_config_model

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))
CLASSES = {"shapes": 5}  # the other examples are 10-class CIFAR-10 recipes


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_is_valid(path: Path) -> None:
    config = load_config(path)
    report = check_config_model(config, CLASSES.get(config.data.source, 10))
    assert report.error is None, report.error
