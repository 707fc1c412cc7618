"""Test-time augmentation (core/data/tta.py, train.tta): the views, their weights, and the config key."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.config import TrainConfig, parse_config
from core.data.tta import POLICIES, mirror, shift, tta_outputs
from core.errors import ConfigError
from core.train.engine import evaluate

IMAGE = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]).view(1, 1, 3, 3)


def test_views_are_the_mirror_and_one_pixel_shifts_with_the_border_reflected() -> None:
    assert mirror(IMAGE)[0, 0].tolist() == [[3, 2, 1], [6, 5, 4], [9, 8, 7]]
    assert shift(IMAGE, 1, 1)[0, 0].tolist() == [[5, 4, 5], [2, 1, 2], [5, 4, 5]]  # moved down-right
    assert shift(IMAGE, -1, -1)[0, 0].tolist() == [[5, 6, 5], [8, 9, 8], [5, 6, 5]]  # moved up-left
    assert shift(IMAGE, 0, 1)[0, 0].tolist() == [[2, 1, 2], [5, 4, 5], [8, 7, 8]]
    assert torch.equal(shift(torch.ones(2, 3, 1, 1), 1, -1), torch.ones(2, 3, 1, 1)), "a 1-pixel image cannot reflect"


def test_outputs_are_the_views_averaged_with_their_weights() -> None:
    def pixels(images: torch.Tensor) -> torch.Tensor:  # a "model" whose outputs are its input's pixels
        return images.flatten(1)

    views = [IMAGE, mirror(IMAGE), shift(IMAGE, -1, -1), mirror(shift(IMAGE, -1, -1)),
             shift(IMAGE, 1, 1), mirror(shift(IMAGE, 1, 1))]
    weights = [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    expected = sum(weight * view.flatten(1) for weight, view in zip(weights, views))
    assert torch.allclose(tta_outputs(pixels, IMAGE, "flip_shift"), expected)
    assert torch.equal(tta_outputs(pixels, IMAGE, "flip"), (IMAGE + mirror(IMAGE)).flatten(1) / 2)
    assert torch.equal(tta_outputs(pixels, IMAGE, "none"), IMAGE.flatten(1))
    assert all(sum(view.weight for view in views) == 1 for views in POLICIES.values())


def test_an_invariant_model_gives_the_same_results_with_and_without_tta() -> None:
    torch.manual_seed(0)
    pooled = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))  # blind to mirroring
    images, labels = torch.randn(6, 3, 5, 5), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = nn.CrossEntropyLoss()
    plain = evaluate(pooled, [(images, labels)], loss)
    assert evaluate(pooled, [(images, labels)], loss, tta="flip") == pytest.approx(plain)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(36, 4))
    flat = torch.randn(6, 3, 1, 1).expand(6, 3, 5, 5)  # one colour per image: every view is the image itself
    assert evaluate(conv, [(flat, labels)], loss, tta="flip_shift") == pytest.approx(evaluate(conv, [(flat, labels)], loss))


def test_the_tta_key_validates_and_eval_flip_means_flip() -> None:
    model = "model: {layers: [flatten, {linear: {out_features: auto}}]}\n"
    with pytest.raises(ConfigError, match=r"train\.tta.*'none', 'flip' or 'flip_shift'.*got 'mirror'"):
        parse_config(model + "train: {tta: mirror}\n")
    with pytest.raises(ConfigError, match=r"eval_flip: true \(the same as tta: flip\) conflicts with tta: flip_shift"):
        parse_config(model + "train: {tta: flip_shift, eval_flip: true}\n")
    assert parse_config(model + "train: {tta: flip_shift}\n").train.validation_tta == "flip_shift"
    assert TrainConfig(eval_flip=True).validation_tta == "flip" == TrainConfig(eval_flip=True, tta="flip").validation_tta
    assert TrainConfig().validation_tta == "none"
