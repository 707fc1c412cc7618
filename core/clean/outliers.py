"""Images far from every class (a screenshot in a folder of cats), from predicted class probabilities.

cleanlab's out-of-distribution score (from the probabilities and the given labels: low when no
class claims the image) ranks every image. The cut is the one cleanlab suggests, a low percentile
of the scores (the lowest `SHARE`), and only scores below the lower Tukey fence as well (first
quartile minus 1.5 interquartile ranges), so a set whose scores are all alike reports none.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARE = 0.01
TUKEY = 1.5


@dataclass(frozen=True)
class Outlier:
    path: str
    score: float  # 0..1, higher: further from every class (1 - cleanlab's out-of-distribution score)


def find_outliers(paths: list[str], given: list[int], probabilities: np.ndarray) -> list[Outlier]:
    """The outlying images, the furthest first."""
    from cleanlab.outlier import OutOfDistribution

    labels = np.asarray(given, dtype=np.int64)
    if len(labels) < 4 or len(np.unique(labels)) < 2:
        return []
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True).clip(min=1e-12)
    scores = OutOfDistribution().fit_score(pred_probs=probabilities, labels=labels, verbose=False)
    low, high = np.percentile(scores, [25, 75])
    cut = min(low - TUKEY * (high - low), np.percentile(scores, 100 * SHARE))
    far = [int(i) for i in np.argsort(scores, kind="stable") if scores[i] <= cut]
    return [Outlier(paths[i], float(1.0 - scores[i])) for i in far]
