"""Every file type Pillow reads is an image, and every image mode classifies like its RGB twin."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.images import IMAGE_EXTENSIONS, image_files, is_image_file
from core.use.inference import Classifier
from tests.core.model_files import train_tiny


def test_every_extension_pillow_reads_is_an_image() -> None:
    for name in ("a.ppm", "b.PGM", "c.pbm", "d.tga", "e.qoi", "f.ico", "g.jfif", "h.dds", "i.pcx", "j.sgi", "k.jp2"):
        assert is_image_file(name), name
    for name in ("notes.txt", "model.h5", "paper.pdf", "clip.mpg", "model.pt", "ppm"):
        assert not is_image_file(name), name
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory, shapes_root: Path) -> Classifier:
    from core.use.inference import load_model

    return load_model(train_tiny(tmp_path_factory.mktemp("runs"), shapes_root).path)


def _base() -> Image.Image:
    """A 16x16 RGB image with many colours."""
    x, y = np.meshgrid(np.arange(16), np.arange(16))
    pixels = np.stack([x * 16, y * 16, (x + y) * 8], axis=2).astype(np.uint8)
    return Image.fromarray(pixels)


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def _grey_16bit() -> tuple[Image.Image, Image.Image]:
    grey = np.asarray(_base().convert("L")).astype(np.uint16)
    return Image.fromarray(grey * 257), Image.fromarray(grey.astype(np.uint8)).convert("RGB")  # 0..65535 scales back exactly


def _with_alpha(mode: str) -> Image.Image:
    image = _base().convert(mode)
    alpha = Image.fromarray((np.arange(256).reshape(16, 16)).astype(np.uint8))
    image.putalpha(alpha)
    return image


ZOO = {  # name: (the file as saved, its RGB twin as workbench should see it)
    "L.pgm": lambda: (_base().convert("L"), _base().convert("L").convert("RGB")),
    "1.pbm": lambda: (_base().convert("1"), _base().convert("1").convert("RGB")),
    "P.gif": lambda: (_base().convert("P"), _base().convert("P").convert("RGB")),
    "RGB.ppm": lambda: (_base(), _base()),
    "RGB.tga": lambda: (_base(), _base()),
    "RGB.bmp": lambda: (_base(), _base()),
    "RGBA.png": lambda: (_with_alpha("RGB"), _on_white(_with_alpha("RGB"))),
    "LA.png": lambda: (_with_alpha("L"), _on_white(_with_alpha("L"))),
    "CMYK.tiff": lambda: (_base().convert("CMYK"), _base().convert("CMYK").convert("RGB")),
    "I;16.png": _grey_16bit,
    "RGB.webp": lambda: (_base(), _base()),
}


@pytest.mark.parametrize("name", ZOO)
def test_the_image_mode_zoo_classifies_like_its_rgb_twin(classifier: Classifier, tmp_path: Path, name: str) -> None:
    image, twin = ZOO[name]()
    path, twin_path = tmp_path / f"image.{name.split('.')[1]}", tmp_path / "twin.png"
    image.save(path, **({"lossless": True} if path.suffix == ".webp" else {}))
    twin.convert("RGB").save(twin_path)
    assert image_files(tmp_path) == sorted([path, twin_path])
    assert torch.equal(classifier.image(path), classifier.image(twin_path))
    first, second = classifier.classify_files([path, twin_path])
    assert first.top == second.top
