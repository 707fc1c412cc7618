"""Starting points for the layer editor: the tutorial's models and the demo's."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    layers: list[Any]


TEMPLATES: list[Template] = [
    Template("tutorial-cifar10", "the tutorial's CIFAR-10 model: three 5x5 convs, max-pools, two linears", [
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
