"""Self-describing checkpoints, saved atomically and loaded with weights_only=True.

A checkpoint is a dict of plain values and tensors:
  format      {"name": "workbench.checkpoint", "version": 1}
  model       the plain model spec (core/model/build.py): {"layers": [resolved layer entries],
              "input_shape": [C, H, W]}, or {"torchvision": {...}} or {"module": ...} in place of layers
  state_dict  the model's weights
  classes     class names, index = label
  preprocess  {"image_size": [H, W], "channels": C, "mean": [...], "std": [...]}
  config      the resolved run config (plain data)
  epoch       epochs completed;  metrics  the last epoch's metrics
  optimizer   optimizer state (last.pt only, for resuming)
Rebuilding goes through the layer registry or the torchvision allowlist, never through pickle.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError
from core.files import atomic_write

FORMAT = {"name": "workbench.checkpoint", "version": 1}
REQUIRED_KEYS = ("format", "model", "state_dict", "classes", "preprocess", "config", "epoch", "metrics")


class CheckpointError(WorkbenchError):
    """A file that is not a usable workbench checkpoint."""


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temp file, fsync, os.replace)."""
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint without running any code from the file."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: no such file") from exc
    except Exception as exc:  # torch.load raises many types for a file that is not a checkpoint
        raise CheckpointError(
            f"{path} is not a workbench checkpoint ({_first_line(exc)}). A whole model saved with "
            "torch.save(model) is not loaded: unpickling it would run code from the file."
        ) from exc
    _check_format(path, checkpoint)
    return checkpoint


def rebuild_model(checkpoint: dict[str, Any], *, allow_user_code: bool = False) -> nn.Module:
    """The checkpoint's model with its weights, in eval mode, on the CPU.

    A layer stack or torchvision model is rebuilt through an allowlist; a `module:` model imports
    and runs the user's own code, so it is only rebuilt with allow_user_code=True.
    """
    from core.model.build import rebuild

    model = rebuild(checkpoint["model"], len(checkpoint["classes"]), allow_user_code=allow_user_code)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def _check_format(path: Path, checkpoint: Any) -> None:
    if not isinstance(checkpoint, dict) or checkpoint.get("format", {}).get("name") != FORMAT["name"]:
        raise CheckpointError(f"{path} is not a workbench checkpoint (no workbench format marker)")
    if checkpoint["format"].get("version", 0) > FORMAT["version"]:
        raise CheckpointError(f"{path} was written by a newer workbench (format version {checkpoint['format']['version']})")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path} is missing {', '.join(missing)}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
