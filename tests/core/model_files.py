"""Model files for the loading, evaluation and export tests: a tiny trained run, the tutorial's
CIFAR-10 network as its own module, and pickles that would create a file if anything unpickled them."""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from core.config import parse_config
from core.runs.recorder import create_run
from core.runs.rundir import RunDir
from core.train.engine import fit
from tests.core.conftest import TINY

TUTORIAL_NET = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):  # the PyTorch CIFAR-10 tutorial's network
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
'''
TUTORIAL_STACK = """\
layers:
  - conv2d: {out_channels: 6, kernel_size: 5}
  - relu
  - maxpool2d: {kernel_size: 2}
  - conv2d: {out_channels: 16, kernel_size: 5}
  - relu
  - maxpool2d: {kernel_size: 2}
  - flatten
  - linear: {out_features: 120}
  - relu
  - linear: {out_features: 84}
  - relu
  - linear: {out_features: auto}
"""
CIFAR_CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def train_tiny(runs: Path, shapes_root: Path, *overrides: str) -> RunDir:
    """One epoch of the tiny shapes config (about a second): a run directory with best.pt and last.pt."""
    config = parse_config(TINY.format(data=shapes_root), ["train.epochs=1", *overrides])
    run = create_run(runs, config.name, config)
    fit(config, run, emit=lambda event: None, should_stop=lambda: False)
    return run


def write_tutorial_module(folder: Path) -> None:
    """tutorial_net.py with the tutorial's Net, importable once `folder` is on sys.path."""
    (folder / "tutorial_net.py").write_text(TUTORIAL_NET)


class Evil:
    """Unpickling this creates `marker`: the classic pickle attack, harmless to detect."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def evil_files(folder: Path, marker: Path) -> dict[str, Path]:
    """The same attack in each file layout torch.load reads: zip, legacy, a bare pickle, inside a checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.pt" for name in ("zip", "legacy", "bare", "checkpoint")}
    torch.save({"weights": torch.zeros(2), "x": Evil(marker)}, files["zip"])
    torch.save({"x": Evil(marker)}, files["legacy"], _use_new_zipfile_serialization=False)
    files["bare"].write_bytes(pickle.dumps(Evil(marker), protocol=2))
    torch.save({"format": {"name": "workbench.checkpoint", "version": 1}, "model": Evil(marker)}, files["checkpoint"])
    return files
