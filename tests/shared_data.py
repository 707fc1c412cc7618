"""The team's shared data, found beside the repository: `<repo>/../shared/datasets/<name>`.

Real-data tests call shared_dataset(name): the folder, or a skip naming where it was looked for.
CI has a copy of shared/ beside its clone, so these tests run there.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    """`<repo>/../shared/datasets/<name>`; skips the calling test when that folder is absent."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"real-data test: shared dataset {name!r} not found at {path} "
                    f"(the team's shared/ folder beside the repository)")
    return path
