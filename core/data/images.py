"""The one image decoder: training and classifying both read files through `open_image`."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import EpsImagePlugin, Image, ImageOps, UnidentifiedImageError

from core.errors import DataError

# Formats Pillow registers but cannot decode here: stubs without a handler, Windows-only WMF/EMF,
# MPEG (identified, never decoded) and EPS without Ghostscript.
_UNREADABLE_FORMATS = frozenset({"BUFR", "GRIB", "HDF5", "MPEG"} | ({"WMF"} if sys.platform != "win32" else set()))


def _readable_extensions() -> frozenset[str]:
    """Every file extension Pillow opens as an image (.jpg, .png, .ppm, .tga, .qoi, ...)."""
    Image.init()
    unreadable = _UNREADABLE_FORMATS | ({"EPS"} if not EpsImagePlugin.has_ghostscript() else set())
    readable = {ext for ext, fmt in Image.registered_extensions().items()
                if fmt in Image.OPEN and fmt not in unreadable}
    return frozenset(readable | {".mpo"})  # multi-picture JPEGs: opened by the JPEG plugin


IMAGE_EXTENSIONS = _readable_extensions()
MAX_PIXELS = 89_478_485  # Pillow's own default; anything larger is treated as a decompression bomb
MAX_DECODED_BYTES = 3 * MAX_PIXELS  # an RGB image at MAX_PIXELS; deeper modes get fewer pixels
_ROWS_PER_BAND = 256

# Pillow warns (and decodes) between MAX_PIXELS and twice that; make it an error instead.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has an image extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def image_files(path: Path) -> list[Path]:
    """The image files at `path`: the file itself, or a folder's, recursively and sorted; none for a pipe or a
    device, which are never read (FileNotFoundError when nothing is there)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
    if path.is_file():
        return [path]
    if path.exists():
        return []
    raise FileNotFoundError(path)


class UnreadableImage(DataError):
    """A file that cannot be decoded as an image; `reason` is short and human."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


def open_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """Fully decode an image file as "RGB" (channels=3) or "L" (channels=1).

    EXIF orientation is applied. Transparent images (RGBA, LA, P with transparency) are
    composited on a white background. Any decoding problem (missing, empty, truncated, not
    an image, more than MAX_PIXELS pixels) raises UnreadableImage; nothing is half-loaded.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    try:
        if os.path.getsize(path) == 0:
            raise UnreadableImage(path, "empty file")
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise UnreadableImage(path, f"too large ({img.width}x{img.height} pixels)")
            if decoded_bytes(img) > MAX_DECODED_BYTES:
                raise UnreadableImage(path, f"too large to decode ({img.width}x{img.height} {img.mode}: "
                                            f"{decoded_bytes(img) / 2**20:.0f} MiB)")
            img.load()
            upright = ImageOps.exif_transpose(img)
        return _convert(upright, "RGB" if channels == 3 else "L")
    except UnreadableImage:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt files; all mean "unreadable"
        raise UnreadableImage(path, _reason(exc)) from exc


def image_from_array(array: np.ndarray, channels: int = 3) -> Image.Image:
    """An in-memory uint8 image (H x W, H x W x 1 or H x W x 3/4) as "RGB" or "L", like open_image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return _convert(Image.fromarray(np.ascontiguousarray(array)), "RGB" if channels == 3 else "L")


def _convert(img: Image.Image, mode: str) -> Image.Image:
    if img.mode in _HIGH_DEPTH_MODES:
        img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img.convert(mode)


def decoded_bytes(img: Image.Image) -> int:
    """Bytes the image takes once decoded, from its header."""
    bits = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32}.get(img.mode, 8)
    return img.width * img.height * len(img.getbands()) * max(bits, 8) // 8


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float greyscale to "L", scaled rather than clipped, a band of rows at a time."""
    values = np.asarray(img)
    peak = values.max(initial=0)
    scale = 255.0 if img.mode == "F" and peak <= 1.0 else (255.0 / 65535.0 if peak > 255 else 1.0)
    out = np.empty(values.shape, dtype=np.uint8)
    for top in range(0, values.shape[0], _ROWS_PER_BAND):
        band = values[top:top + _ROWS_PER_BAND].astype(np.float32) * scale
        out[top:top + _ROWS_PER_BAND] = np.clip(band, 0, 255).round()
    return Image.fromarray(out)


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "too large (decompression bomb)"
    text = str(exc)
    if "truncat" in text.lower() or isinstance(exc, EOFError):
        return "truncated image"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"corrupt image ({type(exc).__name__}: {text[:80]})" if text else f"corrupt image ({type(exc).__name__})"


def fit_size(img: Image.Image, image_size: tuple[int, int], resize: int | tuple[int, int] | None = None) -> Image.Image:
    """Resize BILINEAR to image_size; with `resize`, first Resize(resize) then CenterCrop(image_size).

    `resize` as an int sets the shorter side (keeping the aspect ratio), as transforms.Resize(int).
    """
    height, width = image_size
    if resize is None:
        return img if img.size == (width, height) else img.resize((width, height), Image.Resampling.BILINEAR)
    if isinstance(resize, int):
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        long = int(resize * long / short)
        size = (resize, long) if w <= h else (long, resize)
    else:
        size = (resize[1], resize[0])
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    left = int(round((img.width - width) / 2.0))
    top = int(round((img.height - height) / 2.0))
    return img.crop((left, top, left + width, top + height))  # outside the image: black, as CenterCrop pads
