"""The whitening layer: filters from the training patches' covariance, frozen, saved, never recomputed."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.errors import ConfigError, ShapeError
from core.model.build import rebuild
from core.model.checkpoints import load_checkpoint
from core.model.export import module_code
from core.model.modules import PatchWhitening, init_from_data, patch_statistics
from core.model.registry import parse_stack
from core.model.stack import check_stack
from core.runs.recorder import create_run
from core.train.engine import fit
from core.train.resume import load_resume

WHITENED = ("model.layers=[{whitening: {kernel_size: 2}}, gelu, {maxpool2d: {kernel_size: 2}}, flatten, "
            "{linear: {out_features: auto}}]")


def correlated_images(count: int = 64, size: int = 12) -> torch.Tensor:
    """Images whose channels and neighbouring pixels are strongly correlated, as photographs are."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(count, 3, size + 1, size + 1, generator=generator)
    smooth = (noise[..., 1:, 1:] + noise[..., :-1, 1:] + noise[..., 1:, :-1]) / 3
    mix = torch.tensor([[1.0, 0.8, 0.5], [0.2, 1.0, 0.9], [0.1, 0.3, 1.0]])
    return torch.einsum("oc,nchw->nohw", mix, smooth) + 0.5


def output_covariance(layer: PatchWhitening, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance of the layer's outputs over every position."""
    with torch.no_grad():
        outputs = layer(images).permute(0, 2, 3, 1).flatten(0, 2).double()
    return outputs.mean(0), torch.cov(outputs.T, correction=0)


@pytest.mark.parametrize("out_channels", [24, 8])
def test_the_whitened_patches_have_identity_covariance_along_the_top_directions(out_channels: int) -> None:
    images = correlated_images()
    layer = PatchWhitening(3, out_channels, 2, eps=1e-9)
    layer.init_from_data(images)
    mean, covariance = output_covariance(layer, images)
    half = out_channels // 2
    assert torch.allclose(covariance[:half, :half], torch.eye(half, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4)  # the bias centres the outputs
    assert torch.allclose(layer.weight[half:], -layer.weight[:half])  # every direction with both signs
    # the kept directions are the patches' largest: their filters span the top eigenvectors
    _, patch_covariance = patch_statistics(images, (2, 2))
    top = torch.linalg.eigh(patch_covariance)[1][:, -half:]
    filters = layer.weight[:half].flatten(1).double().T
    inside = top @ (top.T @ filters)
    assert torch.allclose(inside, filters, atol=1e-4)


@pytest.mark.parametrize(("image_shape", "expected"), [((3, 32, 32), 5000), ((3, 224, 224), 2**24 // (3 * 224 * 224))])
def test_the_sample_is_bounded_by_images_and_memory(image_shape: tuple[int, int, int], expected: int) -> None:
    asked: list[int] = []

    def sample(count: int) -> torch.Tensor:
        asked.append(count)
        return correlated_images(4)

    assert init_from_data(torch.nn.Sequential(torch.nn.ReLU()), sample, image_shape) == (0, 0) and not asked
    assert init_from_data(torch.nn.Sequential(PatchWhitening(3, 24, 2)), sample, image_shape) == (1, 4)
    assert asked == [expected]


def test_a_later_layer_is_set_from_what_reaches_it() -> None:
    """Each layer sees the sample through the layers before it, already set: a nested one in a residual too."""
    first, nested = PatchWhitening(3, 24, 2, eps=1e-9), PatchWhitening(24, 8, 1, eps=1e-9)
    model = torch.nn.Sequential(first, torch.nn.Tanh(), torch.nn.Sequential(nested), torch.nn.Flatten())
    model.train()
    images = correlated_images()
    assert init_from_data(model, lambda count: images, (3, 12, 12)) == (2, len(images))
    assert model.training  # its mode as it was
    with torch.no_grad():
        reaching = torch.tanh(first(images))
    _, covariance = output_covariance(nested, reaching)
    assert torch.allclose(covariance[:4, :4], torch.eye(4, dtype=torch.float64), atol=1e-3)


def test_the_filters_are_frozen_unless_asked_and_the_bias_trains() -> None:
    frozen, trained = PatchWhitening(3, 24, 2), PatchWhitening(3, 24, 2, freeze=False)
    assert not frozen.weight.requires_grad and frozen.bias is not None and frozen.bias.requires_grad
    assert trained.weight.requires_grad


def test_exported_code_builds_a_plain_conv2d_for_the_checkpoint_s_filters() -> None:
    assert module_code(PatchWhitening(3, 24, 2)) == "nn.Conv2d(3, 24, kernel_size=(2, 2), stride=(1, 1))"


def test_more_channels_than_patch_directions_is_an_error_naming_the_layer() -> None:
    stack = parse_stack([{"whitening": {"out_channels": 30}}, "flatten", {"linear": {"out_features": "auto"}}])
    error = check_stack(stack, (3, 8, 8), 4).error
    assert isinstance(error, ShapeError) and error.layer_index == 0
    assert "whitening #0" in str(error) and "set out_channels: 24" in str(error)
    with pytest.raises(ConfigError) as odd:
        parse_stack([{"whitening": {"out_channels": 7}}])
    assert odd.value.issues[0].path == ("model", "layers", 0, "whitening", "out_channels")


def test_a_run_whitens_once_saves_the_filters_and_a_resume_keeps_them(tiny, tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []
    original = PatchWhitening.init_from_data

    def counted(layer: PatchWhitening, images: torch.Tensor) -> None:
        calls.append(len(images))
        original(layer, images)

    monkeypatch.setattr(PatchWhitening, "init_from_data", counted)
    config = tiny("train.epochs=1", WHITENED)
    run = create_run(tmp_path, config.name, config)
    fit(config, run, emit=lambda event: None, should_stop=lambda: False)
    assert len(calls) == 1 and calls[0] > 1
    last = load_checkpoint(run.checkpoints_dir / "last.pt")
    filters = last["state_dict"]["0.weight"]
    assert filters.abs().sum() > 0
    model = rebuild(last["model"], len(last["classes"]))  # a load takes the saved filters, never recomputes them
    model.load_state_dict(last["state_dict"])
    assert torch.equal(model[0].weight, filters) and len(calls) == 1

    resumed, checkpoint = load_resume(run.path, ["train.epochs=2"])
    fit(resumed, run, emit=lambda event: None, should_stop=lambda: False, resume=checkpoint)
    assert len(calls) == 1  # not recomputed on a resume
    assert torch.equal(load_checkpoint(run.checkpoints_dir / "last.pt")["state_dict"]["0.weight"], filters)
