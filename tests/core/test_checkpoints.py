"""Loading files that are not workbench checkpoints fails with a message naming the file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.model.checkpoints import CheckpointError, load_checkpoint


@pytest.mark.parametrize("content", [b"hello, not a model\n", b""], ids=["text", "empty"])
def test_non_checkpoint_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="model.pt is not a workbench checkpoint"):
        load_checkpoint(path)


def test_a_pickled_whole_model_is_refused_without_running_it(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # the tutorial's torch.save(model)
    with pytest.raises(CheckpointError, match="torch.save\\(model\\)"):
        load_checkpoint(path)


def test_a_plain_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="no workbench format marker"):
        load_checkpoint(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing.pt: no such file"):
        load_checkpoint(tmp_path / "nothing.pt")
