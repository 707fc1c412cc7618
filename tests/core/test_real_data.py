"""The team's real datasets (`<repo>/../shared/datasets`): listing, decoding and a few training steps.

Skipped, with the path in the reason, where the shared data is absent; CI has it. CIFAR-10 is
listed whole (listing reads no image) but decoded and trained on a small sample only.
"""
from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from core.config import RunConfig, load_config
from core.data.loading import load_data
from core.data.folder import scan_folder
from core.use.inference import Classifier
from core.runs.recorder import create_run
from core.train.engine import fit
from tests.shared_data import shared_dataset

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_CLASS = 20  # images per class in the CIFAR-10 sample

TUTORIAL = Path(__file__).resolve().parents[2] / "configs" / "cifar10_tutorial.yaml"


def sample_config(csv_path: Path) -> RunConfig:
    """The tutorial's CIFAR-10 config, on the sample instead of the downloaded set, two short epochs."""
    return load_config(TUTORIAL, ["data.source=csv", f"data.path={csv_path}", "data.download=false",
                                  "data.val_split=0.2", "data.batch_size=32", "train.epochs=2", "train.device=cpu"])


def test_hymenoptera_has_the_tutorial_split_layout() -> None:
    listing = scan_folder(shared_dataset("hymenoptera_data"), 0.2, seed=0)
    assert listing.layout == "split" and listing.classes == ["ants", "bees"]
    assert len(listing.train) > 100 and len(listing.val) > 50


@pytest.fixture(scope="module")
def cifar10_root() -> Path:
    return shared_dataset("cifar10_train_jpg")


@pytest.fixture(scope="module")
def cifar10_sample(cifar10_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV naming the first PER_CLASS JPEGs of each class folder, in place (nothing copied)."""
    path = tmp_path_factory.mktemp("cifar10-sample") / "sample.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for name in CIFAR10_CLASSES:
            for image in sorted((cifar10_root / name).glob("*.jpg"))[:PER_CLASS]:
                writer.writerow([str(image), name])
    return path


def test_cifar10_jpg_lists_as_ten_classes_of_5000(cifar10_root: Path) -> None:
    listing = scan_folder(cifar10_root, 0.1, seed=0)
    assert listing.layout == "classes" and listing.classes == CIFAR10_CLASSES
    assert listing.ignored == []
    counts = Counter(sample.label for sample in listing.train + listing.val)
    assert [counts[k] for k in range(10)] == [5000] * 10
    assert len(listing.val) == 5000


def test_cifar10_sample_decodes_to_32x32_rgb(cifar10_sample: Path) -> None:
    data = load_data(sample_config(cifar10_sample).data, seed=0)
    assert data.classes == CIFAR10_CLASSES and data.skipped == []
    assert len(data.train) + len(data.val) == 10 * PER_CLASS
    assert data.train.images.shape[1:] == (3, 32, 32) and data.train.images.dtype == torch.uint8
    assert sorted(Counter(data.val.labels.tolist()).values()) == [PER_CLASS // 5] * 10  # stratified split
    assert data.train.images.float().std() > 20  # real photos, not blank decodes
    assert all(0 < m < 1 for m in data.mean) and all(0 < s < 1 for s in data.std)


def test_a_few_training_steps_on_the_cifar10_sample(cifar10_sample: Path, tmp_path: Path) -> None:
    config = sample_config(cifar10_sample)
    run = create_run(tmp_path / "runs", config.name, config)
    events = []
    fit(config, run, emit=events.append, should_stop=lambda: False)
    epochs = [e for e in events if e.type_name() == "epoch_ended"]
    assert [e.epoch for e in epochs] == [1, 2]
    assert all(math.isfinite(e.train_loss) and math.isfinite(e.val_loss) for e in epochs)
    last_batch = [e for e in events if e.type_name() == "batch_ended"][-1]
    assert (last_batch.epoch, last_batch.batch, last_batch.batches) == (2, 5, 5)  # 160 training images / 32
    assert run.read_status()["state"] == "finished"
    with cifar10_sample.open() as handle:
        rows = list(csv.reader(handle))[1:]
    [prediction] = Classifier.load(run.path / "checkpoints" / "best.pt").classify([rows[0][0]])
    assert prediction.label in CIFAR10_CLASSES and len(prediction.top) == 5
