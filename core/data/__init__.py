"""Datasets: what a data config lists (`sources`), decoded once into uint8 tensors (`loading`), fed per batch.

`loading.load_data(config.data, seed)` gives an `ImageData` (classes, train/val `TensorSplit`s, the
per-channel mean/std to apply with `normalize_batch`, and the files it skipped). Every image,
for training or classifying, is read by `images.open_image`. Nothing is imported here: core.config
reads the source table (`sources`), and the modules that decode import core.config.
"""
