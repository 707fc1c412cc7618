"""Classifying image files with a saved checkpoint, using exactly its training preprocessing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.checkpoints import load_checkpoint, rebuild_model
from core.data.loading import image_tensor, normalize_batch


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: list[tuple[str, float]]  # (class, probability), most likely first

    @property
    def label(self) -> str:
        return self.top[0][0]


class Classifier:
    """A checkpoint's model with its classes and preprocessing, ready to classify files."""

    def __init__(self, checkpoint: dict, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = rebuild_model(checkpoint).to(self.device)
        self.classes: list[str] = list(checkpoint["classes"])
        preprocess = checkpoint["preprocess"]
        self.image_size = tuple(preprocess["image_size"])
        self.channels = int(preprocess["channels"])
        resize = preprocess.get("resize")  # absent in older checkpoints
        self.resize = tuple(resize) if isinstance(resize, list) else resize
        self.mean = torch.tensor(preprocess["mean"], device=self.device).view(-1, 1, 1)
        self.std = torch.tensor(preprocess["std"], device=self.device).view(-1, 1, 1)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "Classifier":
        return cls(load_checkpoint(path), device)

    def logits(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """Raw model outputs for a uint8 batch (N x C x H x W) preprocessed like training."""
        with torch.inference_mode():
            return self.model(normalize_batch(images_uint8.to(self.device), self.mean, self.std))

    def classify(self, paths: list[str | Path], top_k: int = 5) -> list[Prediction]:
        """Top-k classes with probabilities for each image file (UnreadableImage if one cannot be read)."""
        batch = torch.stack([image_tensor(Path(p), self.image_size, self.channels, self.resize) for p in paths])
        probabilities = self.logits(batch).softmax(dim=1).cpu()
        k = min(top_k, len(self.classes))
        values, indices = probabilities.topk(k, dim=1)
        return [
            Prediction(Path(path), [(self.classes[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())])
            for path, vals, idx in zip(paths, values, indices)
        ]
