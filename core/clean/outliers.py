"""Images far from every class (a screenshot in a folder of cats), from a model's features or probabilities.

cleanlab's out-of-distribution score ranks every image: from a model's penultimate features when
there are some (the mean distance to the nearest neighbours: far from every image seen), else from
the probabilities and the given labels (low when no class claims the image). An outlier scores
less than a tenth of the median image: an order of magnitude less typical than the usual image,
so a set whose images are all alike reports none (the shapes demo: none of 1,500), while a picture
unlike the rest stands out by hundreds of times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAR = 0.1  # of the median score
NEIGHBOURS = 10  # cleanlab's default k for feature distances


@dataclass(frozen=True)
class Outlier:
    path: str
    score: float  # 0..1, higher: further from every class (1 - cleanlab's out-of-distribution score)


def find_outliers(paths: list[str], given: list[int], probabilities: np.ndarray,
                  features: np.ndarray | None = None) -> list[Outlier]:
    """The outlying images, the furthest first; `features` (one row per path) when a model gives them."""
    from cleanlab.outlier import OutOfDistribution

    labels = np.asarray(given, dtype=np.int64)
    if len(labels) < 4 or len(np.unique(labels)) < 2:
        return []
    if features is not None and len(features) > NEIGHBOURS:
        scores = OutOfDistribution({"k": NEIGHBOURS}).fit_score(features=features, verbose=False)
    else:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True).clip(min=1e-12)
        scores = OutOfDistribution().fit_score(pred_probs=probabilities, labels=labels, verbose=False)
    cut = FAR * float(np.median(scores))
    far = [int(i) for i in np.argsort(scores, kind="stable") if scores[i] < cut]
    return [Outlier(paths[i], float(1.0 - scores[i])) for i in far]
