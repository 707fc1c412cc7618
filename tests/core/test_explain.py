"""Explanations: Grad-CAM and occlusion heatmaps on a model trained on the shapes demo, whose shape pixels are known."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.config import parse_config
from core.runs.recorder import create_run
from core.train.engine import fit
from core.use.explain import Explainer, ExplainError, spatial_layers
from core.use.inference import Classifier, load_model
from core.use.overlay import heat_colours, overlay, save_overlay

# the demo's stack (configs/shapes.yaml) on fewer images: it reaches 100% validation accuracy in seconds. AdamW's
# weight decay prunes the filters the decision does not need, so the evidence stays on the shape (with plain Adam,
# Grad-CAM's mass reaches twice the shape's share for fewer than half the images)
DEMO = """\
name: explain
seed: 3
data:
  source: shapes
  path: {data}
  image_size: [32, 32]
  batch_size: 32
  shapes: {{train_per_class: 200, val_per_class: 20, size: 32}}
model:
  layers:
    - conv2d: {{out_channels: 16, kernel_size: 3, padding: same}}
    - batchnorm2d
    - relu
    - maxpool2d: {{kernel_size: 2}}
    - conv2d: {{out_channels: 32, kernel_size: 3, padding: same}}
    - batchnorm2d
    - relu
    - maxpool2d: {{kernel_size: 2}}
    - conv2d: {{out_channels: 64, kernel_size: 3, padding: same}}
    - relu
    - maxpool2d: {{kernel_size: 2}}
    - flatten
    - linear: {{out_features: 64}}
    - relu
    - linear: {{out_features: auto}}
train:
  epochs: 5
  device: cpu
  optimizer: {{name: adamw, lr: 0.003, weight_decay: 0.1}}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, list[Path]]:
    """(the trained demo model, its validation images)."""
    folder = tmp_path_factory.mktemp("explain")
    config = parse_config(DEMO.format(data=folder / "shapes"), [])
    run = create_run(folder / "runs", config.name, config)
    fit(config, run, emit=lambda event: None, should_stop=lambda: False)
    classifier = load_model(run.path)
    assert classifier.metrics["val_accuracy"] >= 0.9
    return classifier, sorted((folder / "shapes" / "val").glob("*/*.png"))


LUMA = torch.tensor([0.299, 0.587, 0.114])[:, None, None]  # the weights core/data/shapes.py keeps the contrast in


def shape_mask(image: torch.Tensor) -> torch.Tensor:
    """The shape's pixels: the demo always draws the shape darker than its background, 70+ apart in luma (the plain
    mean of the channels can put a green background and a blue shape level)."""
    luma = (image.float() * LUMA).sum(dim=0)
    return luma < (luma.min() + luma.max()) / 2


def concentration(heatmap: torch.Tensor, mask: torch.Tensor) -> float:
    """The heatmap's share of mass inside the mask, over the mask's share of the image: 1 means no preference."""
    inside = float((heatmap * mask).sum() / heatmap.sum().clamp(min=1e-9))
    return inside / float(mask.float().mean())


def test_grad_cam_puts_the_evidence_on_the_shape(demo) -> None:
    classifier, images = demo
    explainer = Explainer(classifier)
    ratios = torch.tensor([concentration(explainer.explain_file(path)[0].heatmap, shape_mask(classifier.image(path)))
                           for path in images])
    # the criterion: at least twice the mask's share of the image for most images
    assert (ratios >= 2.0).float().mean() > 0.5, ratios
    assert ratios.median() >= 2.0, ratios


def test_occlusion_prefers_the_shape_without_gradients(demo) -> None:
    classifier, images = demo
    explainer = Explainer(classifier, method="occlusion")
    ratios = torch.tensor([concentration(explainer.explain_file(path)[0].heatmap, shape_mask(classifier.image(path)))
                           for path in images[::4]])
    assert ratios.median() > 1.2, ratios


def test_an_explanation_is_at_the_input_size_in_0_to_1_per_top_class(demo) -> None:
    classifier, images = demo
    explanations = Explainer(classifier, layer="4").explain_file(images[0], top_k=3)
    assert [e.class_name for e in explanations] == [p[0] for p in classifier.classify([images[0]], top_k=3)[0].top]
    for explanation in explanations:
        assert explanation.heatmap.shape == (32, 32) and explanation.layer == "4" and explanation.method == "grad-cam"
        assert 0 <= explanation.heatmap.min() and explanation.heatmap.max() <= 1
    assert len(explanations[0].rows()) == 32 and all(len(row) == 32 for row in explanations[0].rows())


def test_bad_layer_names_are_clear_errors(demo) -> None:
    classifier, _ = demo
    assert spatial_layers(classifier.model) == ["0", "4", "8"]
    with pytest.raises(ExplainError, match=r"no layer named 'conv9'.*convolution layers: 0, 4, 8"):
        Explainer(classifier, layer="conv9")
    with pytest.raises(ExplainError, match="did you mean '11'"):
        Explainer(classifier, layer="111")
    image = classifier.image(demo[1][0])
    with pytest.raises(ExplainError, match="layer '12' does not output feature maps.*0, 4, 8"):
        Explainer(classifier, layer="12").explain(image)
    with pytest.raises(ExplainError, match="unknown explanation method"):
        Explainer(classifier, method="saliency")  # type: ignore[arg-type]


def test_a_model_without_convolutions_asks_for_a_layer_or_occlusion() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    classifier = Classifier.from_module(model, ["a", "b"], {"image_size": [8, 8], "channels": 3,
                                                            "mean": [0.5] * 3, "std": [0.5] * 3})
    with pytest.raises(ExplainError, match="no convolution layer.*--method occlusion"):
        Explainer(classifier)
    [explanation] = Explainer(classifier, method="occlusion").explain(torch.full((3, 8, 8), 200, dtype=torch.uint8))
    assert explanation.heatmap.shape == (8, 8) and explanation.layer == "input"


def test_the_overlay_is_the_ramp_over_the_image_and_saved_enlarged(tmp_path: Path) -> None:
    heat = torch.tensor([[0.0, 1.0]])
    assert heat_colours(heat)[:, 0, 0].tolist() == [0, 0, 40] and heat_colours(heat)[:, 0, 1].tolist() == [255, 250, 180]
    grey = torch.full((1, 1, 2), 100, dtype=torch.uint8)
    drawn = overlay(grey, heat)
    assert drawn[:, 0, 0].tolist() == [100, 100, 100]  # no evidence: the picture as it was
    assert drawn[:, 0, 1].tolist() != [100, 100, 100]
    from PIL import Image

    with Image.open(save_overlay(grey, heat, tmp_path / "out" / "a.png")) as png:
        assert png.size == (256, 128) and png.mode == "RGB"


def test_a_torchvision_model_reads_its_last_convolution_or_a_named_block() -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)  # random weights and image, the same every time
    classifier = Classifier.from_module(resnet18(num_classes=3), ["a", "b", "c"], {
        "image_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3})
    image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
    [last] = Explainer(classifier).explain(image)
    assert last.layer == "layer4.1.conv2" and last.heatmap.shape == (64, 64)
    [block] = Explainer(classifier, layer="layer3").explain(image)  # a block of layers, not a convolution
    assert block.layer == "layer3" and block.heatmap.shape == (64, 64) and block.heatmap.max() == 1
