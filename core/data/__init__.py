"""Datasets: the embedded `shapes` set or a folder of class folders, decoded once into uint8 tensors.

`load_data(config.data, seed)` gives an `ImageData` (classes, train/val `TensorSplit`s, the
per-channel mean/std to apply with `normalize_batch`, and the files it skipped). Every image,
for training or classifying, is read by `images.open_image`.
"""
from core.data.folder import SkippedFile
from core.data.loading import ImageData, TensorSplit, load_data

__all__ = ["ImageData", "SkippedFile", "TensorSplit", "load_data"]
