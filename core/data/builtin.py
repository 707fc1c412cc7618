"""torchvision's built-in sets (CIFAR-10/100, MNIST, Fashion-MNIST) read from their on-disk layout.

With `download: true` a missing set is fetched by torchvision itself into the data path; files
already in place are read without a network. CIFAR's pickled batches go through an unpickler
that only builds numpy arrays, lists and strings. The test set becomes the validation split.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.samples import Listing, Sample
from core.errors import DataError


@dataclass(frozen=True)
class _Set:
    dataset: str  # the torchvision.datasets class
    folder: str  # under the data path, as torchvision lays it out
    train: tuple[str, ...]
    test: tuple[str, ...]
    url: str


_SETS = {
    "cifar10": _Set("CIFAR10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": _Set("CIFAR100", "cifar-100-python", ("train",), ("test",),
                     "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "mnist": _Set("MNIST", "MNIST/raw", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion_mnist": _Set("FashionMNIST", "FashionMNIST/raw", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                          ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
                          "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}


def load_builtin(name: str, root: Path, *, download: bool) -> Listing:
    """The named set under `root` as an in-memory listing; download it first when asked and missing."""
    spec = _SETS[name]
    if _missing(spec, root):
        if not download:
            raise DataError(f"{name} is not in {root}: expected {_expected(spec, root)}\n"
                            f"    hint: set data.download: true (needs internet), or download {spec.url} "
                            f"and extract it into {root}")
        _download(name, spec, root)
    if name.startswith("cifar"):
        classes, train, test = _read_cifar(root / spec.folder, spec)
    else:
        import torchvision.datasets

        classes = list(getattr(torchvision.datasets, spec.dataset).classes)
        train, test = (_read_idx(root / spec.folder, files) for files in (spec.train, spec.test))
    return Listing(classes, _samples(*train), _samples(*test), "split")


def is_present(name: str, root: Path) -> bool:
    """Whether the set's files are in place under `root`."""
    return not _missing(_SETS[name], root)


def class_count(name: str) -> int:
    return 100 if name == "cifar100" else 10


def _samples(images: np.ndarray, labels: np.ndarray) -> list[Sample]:
    return [Sample(None, int(label), image) for image, label in zip(images, labels.tolist())]


def _missing(spec: _Set, root: Path) -> bool:
    folder = root / spec.folder
    return not all((folder / f).is_file() or (folder / f"{f}.gz").is_file() for f in spec.train + spec.test)


def _expected(spec: _Set, root: Path) -> str:
    return f"{root / spec.folder}/ with {', '.join(spec.train + spec.test)}"


def _download(name: str, spec: _Set, root: Path) -> None:
    import torchvision.datasets

    dataset = getattr(torchvision.datasets, spec.dataset)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            dataset(str(root), train=train, download=True)
    except Exception as exc:  # no network, a proxy page, a bad checksum: all mean "not downloaded"
        raise DataError(f"could not download {name} into {root}: {exc}\n"
                        f"    hint: check the internet connection, or download {spec.url} yourself and "
                        f"extract it so that {_expected(spec, root)}") from exc


def _read_cifar(folder: Path, spec: _Set) -> tuple[list[str], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    meta_file, names_key, labels_key = ("meta", "fine_label_names", "fine_labels") if spec.folder.startswith(
        "cifar-100") else ("batches.meta", "label_names", "labels")
    meta = _unpickle(folder / meta_file)
    classes = [str(name) for name in meta[names_key]]

    def read(files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        batches = [_unpickle(folder / f) for f in files]
        images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
        labels = np.concatenate([np.asarray(b[labels_key], dtype=np.int64) for b in batches])
        return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels

    return classes, read(spec.train), read(spec.test)


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays and plain containers only; anything else in the file is refused."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}\n    hint: delete the folder and download the set again") from exc
    if not isinstance(data, dict):
        raise DataError(f"cannot read {path}: not a CIFAR batch")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _read_idx(folder: Path, files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (_idx_array(folder, f) for f in files)
    return images, labels.astype(np.int64)


def _idx_array(folder: Path, name: str) -> np.ndarray:
    """An MNIST-style IDX file of unsigned bytes (plain or .gz) as an array."""
    path = folder / name
    try:
        raw = path.read_bytes() if path.is_file() else gzip.decompress((folder / f"{name}.gz").read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}\n    hint: delete the folder and download the set again") from exc
    dims = raw[3] if len(raw) >= 4 else 0
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    if raw[:3] != b"\x00\x00\x08" or not dims or len(raw) != 4 + 4 * dims + int(np.prod(shape)):
        raise DataError(f"{path} is not an IDX file of bytes\n    hint: delete the folder and download the set again")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
