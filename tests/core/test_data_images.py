"""open_image: every mode to RGB/L, EXIF orientation, transparency, unreadable files."""
from __future__ import annotations

import pytest
from PIL import Image

from core.data import images
from core.data.images import UnreadableImage, is_image_file, open_image
from core.errors import DataError


def test_image_extensions_are_case_insensitive():
    assert is_image_file("a/B.JPG") and is_image_file("x.Tiff") and is_image_file("y.webp")
    assert not is_image_file("notes.txt") and not is_image_file("jpg")


@pytest.mark.parametrize("mode,colour", [("RGBA", (10, 20, 30, 255)), ("L", 77), ("CMYK", (0, 255, 0, 0)), ("1", 1), ("I;16", 40000)])
def test_any_mode_becomes_rgb_of_the_same_size(tmp_path, mode, colour):
    path = tmp_path / ("a.tif" if mode in ("CMYK", "I;16") else "a.png")
    Image.new(mode, (7, 5), colour).save(path)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (7, 5)
    assert open_image(path, channels=1).mode == "L"


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.new("I;16", (4, 4), 32896).save(tmp_path / "a.png")  # 32896 / 257 == 128
    assert open_image(tmp_path / "a.png", channels=1).getpixel((0, 0)) == 128


def test_transparent_pixels_become_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    rgba.save(tmp_path / "rgba.png")
    img = open_image(tmp_path / "rgba.png")
    assert img.getpixel((1, 1)) == (255, 255, 255) and img.getpixel((0, 0)) == (255, 0, 0)

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(tmp_path / "p.png", transparency=1)
    assert open_image(tmp_path / "p.png").getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.new("RGB", (20, 10), (0, 128, 0)).save(tmp_path / "r.jpg", exif=exif)
    assert Image.open(tmp_path / "r.jpg").size == (20, 10)
    assert open_image(tmp_path / "r.jpg").size == (10, 20)


def _jpeg_bytes(tmp_path) -> bytes:
    Image.effect_noise((64, 64), 60).convert("RGB").save(tmp_path / "full.jpg", quality=90)
    return (tmp_path / "full.jpg").read_bytes()


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"), (b"hello, not a picture", "not an image"), ("truncated", "truncated image"),
])
def test_unreadable_files_raise_with_a_short_reason(tmp_path, content, reason):
    if content == "truncated":
        content = _jpeg_bytes(tmp_path)[:600]
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(UnreadableImage) as info:
        open_image(path)
    assert info.value.reason == reason and info.value.path == path
    assert isinstance(info.value, DataError) and str(path) in str(info.value)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImage, match="file not found"):
        open_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("L", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(UnreadableImage, match="too large"):
        open_image(tmp_path / "big.png")


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_real_bomb_header_is_refused_before_decoding(tmp_path):
    Image.new("1", (12_000, 12_000)).save(tmp_path / "bomb.png")  # 144M pixels, a few KB on disk
    with pytest.raises(UnreadableImage, match="too large"):
        open_image(tmp_path / "bomb.png")


def test_image_files_lists_a_folder_recursively_or_one_file(tmp_path, write_images):
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "a" / "deeper", 1, suffix=".jpg")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    from core.data.images import image_files

    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path / "a")] == [
        "a/deeper/img000.jpg", "a/img000.png", "a/img001.png"]
    assert image_files(tmp_path / "a" / "img000.png") == [tmp_path / "a" / "img000.png"]
    with pytest.raises(FileNotFoundError):
        image_files(tmp_path / "missing")


def test_decoding_is_bounded_in_memory_as_well_as_pixels(tmp_path, monkeypatch) -> None:
    import core.data.images as images

    path = tmp_path / "deep.png"
    Image.new("I;16", (64, 48), 40_000).save(path)
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 64 * 48 * 2 - 1)
    with pytest.raises(images.UnreadableImage, match="too large to decode"):
        images.open_image(path)
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 64 * 48 * 2)
    assert images.open_image(path, channels=1).getpixel((0, 0)) == round(40_000 * 255 / 65535)
