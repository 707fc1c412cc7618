"""Starting points for the layer editor: the PyTorch notes' CIFAR-10 model (../shared/tutorial/pytorch-notes.md),
the demo's and a plain MLP."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    layers: list[Any]


TEMPLATES: list[Template] = [
    # as the notes write it: no activation between its two linears, so `check` warns, as it should
    Template("tutorial-cifar10", "the PyTorch notes' CIFAR-10 model (class JIAO): three 5x5 convs, max-pools, two "
             "linears with no activation between them, as in the notes (so the warning about them is expected)", [
        {"conv2d": {"out_channels": 32, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
        {"conv2d": {"out_channels": 32, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
        {"conv2d": {"out_channels": 64, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
        "flatten", {"linear": {"out_features": 64}}, {"linear": {"out_features": "auto"}},
    ]),
    Template("small-cnn", "the demo's CNN: three 3x3 conv blocks with batch norm, dropout, two linears", [
        {"conv2d": {"out_channels": 16, "kernel_size": 3, "padding": "same"}}, "batchnorm2d", "relu",
        {"maxpool2d": {"kernel_size": 2}},
        {"conv2d": {"out_channels": 32, "kernel_size": 3, "padding": "same"}}, "batchnorm2d", "relu",
        {"maxpool2d": {"kernel_size": 2}},
        {"conv2d": {"out_channels": 64, "kernel_size": 3, "padding": "same"}}, "relu",
        {"maxpool2d": {"kernel_size": 2}},
        "flatten", {"dropout": {"p": 0.2}}, {"linear": {"out_features": 64}}, "relu",
        {"linear": {"out_features": "auto"}},
    ]),
    Template("mlp", "a multilayer perceptron: flatten, two hidden linears with ReLU", [
        "flatten", {"linear": {"out_features": 256}}, "relu", {"linear": {"out_features": 128}}, "relu",
        {"linear": {"out_features": "auto"}},
    ]),
]
