"""A classifier on listed samples, decoded as the model was trained: class probabilities, penultimate features."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from core.data.loading import sample_tensor
from core.data.samples import Sample
from core.errors import DataError
from core.use.inference import Classifier, decode_parallel

BATCH_SIZE = 128


def probabilities(classifier: Classifier, samples: list[Sample], progress: Callable[[int, int], None] | None = None
                  ) -> tuple[torch.Tensor, list[int]]:
    """(N x classes softmax probabilities, the index in `samples` of each row): unreadable samples have no row."""
    return _outputs(classifier, samples, lambda batch: classifier.logits(batch).float().softmax(dim=1), progress)


def penultimate_features(classifier: Classifier, samples: list[Sample],
                         progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, list[int]]:
    """(N x features: what the model's last linear layer takes in, the index in `samples` of each row)."""
    linears = [module for module in classifier.model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise DataError("the model has no linear layer whose input could serve as its features")
    taken: list[torch.Tensor] = []
    hook = linears[-1].register_forward_hook(lambda module, inputs, output: taken.append(inputs[0].flatten(1)))

    def features(batch: torch.Tensor) -> torch.Tensor:
        taken.clear()
        classifier.logits(batch)
        return taken[-1].float()

    try:
        return _outputs(classifier, samples, features, progress)
    finally:
        hook.remove()


def _outputs(classifier: Classifier, samples: list[Sample], compute: Callable[[torch.Tensor], torch.Tensor],
             progress: Callable[[int, int], None] | None) -> tuple[torch.Tensor, list[int]]:
    rows: list[torch.Tensor] = []
    kept: list[int] = []

    def decode(sample: Sample) -> torch.Tensor:
        return sample_tensor(sample, classifier.image_size, classifier.channels, classifier.resize)

    for start in range(0, len(samples), BATCH_SIZE):
        decoded = decode_parallel(decode, samples[start:start + BATCH_SIZE])
        good = [(start + i, item) for i, item in enumerate(decoded) if isinstance(item, torch.Tensor)]
        if good:
            batch = torch.stack([tensor for _, tensor in good])
            rows.append(compute(batch).cpu())
            kept += [i for i, _ in good]
        if progress is not None:
            progress(min(start + BATCH_SIZE, len(samples)), len(samples))
    return (torch.cat(rows) if rows else torch.zeros(0, 0)), kept
