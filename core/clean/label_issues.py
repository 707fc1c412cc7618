"""Likely mislabelled images, by confident learning (cleanlab) over predicted class probabilities.

The probabilities should be out-of-fold (`workbench cv`): each image predicted by a model that
never trained on it. A model's predictions on images it trained on agree with their labels more
than they should, so that route finds fewer of the wrong ones: the weaker option, said as such.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelIssue:
    path: str  # as the data source names it
    given: str
    suggested: str  # the class the model believes
    score: float  # 0..1, higher: more surely mislabelled (1 - the given class's probability)


def find_label_issues(paths: list[str], given: list[int], probabilities: np.ndarray, classes: list[str]
                      ) -> list[LabelIssue]:
    """The images cleanlab's `find_label_issues` flags, the most surely mislabelled first."""
    from cleanlab.filter import find_label_issues as flagged

    labels = np.asarray(given, dtype=np.int64)
    if len(labels) == 0 or len(np.unique(labels)) < 2:
        return []
    probabilities = _normalised(probabilities)
    ranked = flagged(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    return [LabelIssue(paths[i], classes[labels[i]], classes[int(probabilities[i].argmax())],
                       float(1.0 - probabilities[i, labels[i]])) for i in ranked]


def _normalised(probabilities: np.ndarray) -> np.ndarray:
    """Rows that sum to exactly 1, as cleanlab checks (a CSV round trip leaves them a hair off)."""
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    return probabilities / probabilities.sum(axis=1, keepdims=True).clip(min=1e-12)
