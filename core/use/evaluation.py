"""Evaluating a classifier on labelled images: accuracy, per-class scores, the confusion matrix, the
most confused pairs and the highest-loss examples (where mislabelled files show up).

The labels come from the data, never from guessing: a config's validation split (its class names),
or a folder of class folders whose names match the model's classes. Names the model does not know
are reported in `unknown_folders` and their images left out.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from core.data.images import image_files
from core.data.loading import sample_tensor
from core.data.samples import Sample
from core.errors import DataError
from core.files import atomic_write, atomic_write_json
from core.use.inference import Classifier, FileFailure, decode_parallel
from core.runs.rundir import RunDir


@dataclass(frozen=True)
class ClassReport:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class TopLoss:
    path: str
    true: str
    predicted: str
    confidence: float  # the predicted class's probability
    loss: float  # cross-entropy of the true class


@dataclass(frozen=True)
class Evaluation:
    classes: list[str]
    accuracy: float
    top5_accuracy: float | None  # None for 5 classes or fewer, where the top 5 always hold the true class
    per_class: list[ClassReport]
    confusion: list[list[int]]  # rows: true class, columns: predicted, in classes order
    confused_pairs: list[tuple[str, str, int]]  # (true, predicted, count), most first, off-diagonal only
    top_losses: list[TopLoss]
    unknown_folders: list[str]
    skipped: list[FileFailure]
    data: str = ""  # what was evaluated, in words

    @property
    def count(self) -> int:
        return sum(report.support for report in self.per_class)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "accuracy": self.accuracy,
            "top5_accuracy": self.top5_accuracy,
            "per_class": [{"class": r.name, "precision": r.precision, "recall": r.recall, "f1": r.f1,
                           "support": r.support} for r in self.per_class],
            "confusion": [list(row) for row in self.confusion],
            "confused_pairs": [list(pair) for pair in self.confused_pairs],
            "top_losses": [{"path": t.path, "true": t.true, "predicted": t.predicted, "confidence": t.confidence,
                            "loss": t.loss} for t in self.top_losses],
            "unknown_folders": list(self.unknown_folders),
            "skipped": [{"path": str(f.path), "reason": f.reason} for f in self.skipped],
            "data": self.data,
        }


@dataclass
class _Labelled:
    """Samples to evaluate with their true labels in the model's class order."""

    samples: list[Sample]
    names: list[str]  # how each sample is shown (its path)
    unknown: list[str] = field(default_factory=list)
    described: str = ""


def evaluate_model(classifier: Classifier, data: str | Path | None = None, *, run_dir: Path | None = None,
                   top_losses: int = 16, batch_size: int = 64, tta: str = "none",
                   progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Evaluate on `data`: a YAML config (its validation split), a folder of class folders (image files
    found recursively), or None for the run's own validation split (run_dir/config.yaml, else the
    config inside the checkpoint). Images are preprocessed as the model was trained, and the outputs
    averaged over test-time augmentation policy `tta`'s views. DataError when there is nothing to evaluate."""
    labelled = _labelled(classifier, data, run_dir)
    if not labelled.samples:
        known = f"; folders not among the model's classes: {', '.join(labelled.unknown)}" if labelled.unknown else ""
        split = next((name for name in ("val", "valid", "validation", "test") if name in labelled.unknown), None)
        hint = (f"for a train/{split} layout, give the {split} folder ({Path(labelled.described) / split})" if split
                else f"the model's classes are {', '.join(classifier.classes[:12])}"
                     f"{', ...' if len(classifier.classes) > 12 else ''}")
        raise DataError(f"no images of the model's classes in {labelled.described}{known}\n    hint: {hint}")
    labels: list[int] = []
    shown: list[str] = []
    outputs: list[torch.Tensor] = []
    skipped: list[FileFailure] = []
    total = len(labelled.samples)

    def decode(sample: Sample) -> torch.Tensor:
        return sample_tensor(sample, classifier.image_size, classifier.channels, classifier.resize)

    for start in range(0, total, max(1, batch_size)):
        chunk = labelled.samples[start:start + batch_size]
        decoded = decode_parallel(decode, chunk)
        kept = [(i, item) for i, item in enumerate(decoded) if isinstance(item, torch.Tensor)]
        skipped += [FileFailure(item.path, item.reason) for item in decoded if not isinstance(item, torch.Tensor)]
        if kept:
            outputs.append(classifier.logits(torch.stack([tensor for _, tensor in kept]), tta).float().cpu())
            labels += [chunk[i].label for i, _ in kept]
            shown += [labelled.names[start + i] for i, _ in kept]
        if progress is not None:
            progress(min(start + batch_size, total), total)
    if not labels:
        raise DataError(f"none of the {total} images in {labelled.described} could be read")
    evaluation = summarize(classifier.classes, torch.tensor(labels), torch.cat(outputs), shown, top_losses)
    return replace(evaluation, unknown_folders=labelled.unknown, skipped=skipped, data=labelled.described)


def summarize(classes: list[str], labels: torch.Tensor, logits: torch.Tensor, paths: list[str],
              top_losses: int = 16) -> Evaluation:
    """Every number of an Evaluation from true labels (N) and logits (N x classes)."""
    n = len(classes)
    probabilities = logits.float().softmax(dim=1)
    predicted = probabilities.argmax(dim=1)
    confusion = torch.bincount(labels * n + predicted, minlength=n * n).reshape(n, n)
    top5 = (probabilities.topk(5, dim=1).indices == labels[:, None]).any(dim=1) if n > 5 else None
    support, predicted_count, hits = confusion.sum(1).tolist(), confusion.sum(0).tolist(), confusion.diag().tolist()
    per_class = []
    for i, name in enumerate(classes):
        precision = hits[i] / predicted_count[i] if predicted_count[i] else 0.0
        recall = hits[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassReport(name, precision, recall, f1, support[i]))
    matrix = confusion.tolist()
    pairs = sorted(((classes[t], classes[p], matrix[t][p]) for t in range(n) for p in range(n)
                    if t != p and matrix[t][p]), key=lambda pair: (-pair[2], pair[0], pair[1]))
    losses = torch.nn.functional.cross_entropy(logits.float(), labels, reduction="none")
    worst = torch.sort(losses, descending=True, stable=True).indices[:max(0, top_losses)].tolist()
    top = [TopLoss(paths[i], classes[labels[i]], classes[predicted[i]], float(probabilities[i, predicted[i]]),
                   float(losses[i])) for i in worst]
    count = len(labels)
    return Evaluation(classes=list(classes), accuracy=sum(hits) / count if count else 0.0,
                      top5_accuracy=None if top5 is None else float(top5.float().mean()) if count else 0.0,
                      per_class=per_class,
                      confusion=matrix, confused_pairs=pairs, top_losses=top, unknown_folders=[], skipped=[])


def _labelled(classifier: Classifier, data: str | Path | None, run_dir: Path | None) -> _Labelled:
    if data is None:
        return _from_config(classifier, *_own_config(classifier, run_dir))
    data = Path(data)
    if data.is_dir():
        return _from_folder(classifier.classes, data)
    if data.suffix.lower() in (".yaml", ".yml") and data.is_file():
        from core.config import load_config

        return _from_config(classifier, load_config(data), str(data))
    if not data.exists():
        raise DataError(f"{data}: no such file or folder\n    hint: give a config (.yaml) or a folder of class folders")
    raise DataError(f"{data} is neither a config (.yaml) nor a folder of class folders")


def _own_config(classifier: Classifier, run_dir: Path | None) -> tuple[Any, str]:
    """The run's config (run_dir/config.yaml), else the config saved inside the checkpoint."""
    from core.config import load_config, parse_config

    run_dir = run_dir or classifier.run_dir
    config_path = RunDir(run_dir).config_path if run_dir is not None else None
    if config_path is not None and config_path.is_file():
        return load_config(config_path), f"the validation split of {config_path}"
    if classifier.config:
        import yaml

        return parse_config(yaml.safe_dump(classifier.config)), "the validation split of the checkpoint's config"
    raise DataError("this model has no run directory or config to take a validation split from\n"
                    "    hint: give DATA, a config (.yaml) or a folder of class folders")


def _from_config(classifier: Classifier, config: Any, described: str) -> _Labelled:
    from core.data.sources import list_data

    listing = list_data(config.data, config.seed)
    index = {name: i for i, name in enumerate(classifier.classes)}
    unknown = [name for name in listing.classes if name not in index]
    samples, names = [], []
    for number, sample in enumerate(listing.val):
        name = listing.classes[sample.label]
        if name in index:
            samples.append(Sample(sample.path, index[name], sample.array))
            names.append(_shown(sample.path) if sample.path is not None else f"{config.data.source} val #{number}")
    return _Labelled(samples, names, unknown, described)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (as a user would type it)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _from_folder(classes: list[str], folder: Path) -> _Labelled:
    index = {name: i for i, name in enumerate(classes)}
    samples, names, unknown = [], [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name not in index:
            unknown.append(sub.name)
            continue
        for path in image_files(sub):
            samples.append(Sample(path, index[sub.name]))
            names.append(str(path))
    return _Labelled(samples, names, unknown, str(folder))


def save_evaluation(evaluation: Evaluation, run_dir: Path) -> None:
    """evaluation.json and confusion.csv (a header row of predicted classes, a row per true class), atomically."""
    run = RunDir(run_dir)
    atomic_write_json(run.evaluation_path, evaluation.to_dict())
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["true \\ predicted", *evaluation.classes])
    for name, row in zip(evaluation.classes, evaluation.confusion):
        writer.writerow([name, *row])
    atomic_write(run.confusion_path, lambda handle: handle.write(text.getvalue().encode("utf-8")))


def confusion_image(evaluation: Evaluation, cell: int = 24) -> torch.Tensor:
    """The confusion matrix as a uint8 3 x H x W image: cells shaded by their share of the true class's
    images (white to blue), counts written in, class names along the left and top."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    n, font = len(evaluation.classes), ImageFont.load_default()
    names = [name[:16] for name in evaluation.classes]
    margin = max(int(font.getlength(name)) for name in names) + 8
    image = Image.new("RGB", (margin + n * cell + 1, margin + n * cell + 1), "white")
    draw = ImageDraw.Draw(image)
    for t, row in enumerate(evaluation.confusion):
        total = sum(row) or 1
        for p, count in enumerate(row):
            share = count / total
            shade = (int(255 - 225 * share), int(255 - 170 * share), 255)
            x, y = margin + p * cell, margin + t * cell
            draw.rectangle((x, y, x + cell, y + cell), fill=shade, outline=(200, 200, 200))
            if count:
                text = str(count)
                colour = "white" if share > 0.5 else "black"
                draw.text((x + (cell - font.getlength(text)) / 2, y + cell / 2 - 5), text, fill=colour, font=font)
    for i, name in enumerate(names):
        draw.text((4, margin + i * cell + cell / 2 - 5), name, fill="black", font=font)
    top = Image.new("RGB", (margin, n * cell), "white")
    top_draw = ImageDraw.Draw(top)
    for i, name in enumerate(names):
        top_draw.text((4, i * cell + cell / 2 - 5), name, fill="black", font=font)
    image.paste(top.rotate(90, expand=True), (margin, 0))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def log_evaluation(evaluation: Evaluation, log_dir: Path, step: int = 0) -> None:
    """The confusion matrix image and accuracy scalars into a TensorBoard folder."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(log_dir))
    try:
        writer.add_image("evaluation/confusion_matrix", confusion_image(evaluation), step)
        writer.add_scalar("evaluation/accuracy", evaluation.accuracy, step)
        if evaluation.top5_accuracy is not None:
            writer.add_scalar("evaluation/top5_accuracy", evaluation.top5_accuracy, step)
    finally:
        writer.close()
