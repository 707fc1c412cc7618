"""torchvision classification models by name: an allowlist, weights, the head replaced for the classes.

A name from a config is checked against torchvision's list of classification models before it
reaches `torchvision.models.get_model`; weights are loaded with torch.load(weights_only=True).
"""
from __future__ import annotations

import difflib
import os
import pickle
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from core.errors import WorkbenchError

IMAGENET_CLASSES = 1000
_AUX = ("aux1.", "aux2.", "AuxLogits.")  # googlenet / inception_v3 training heads, left out
NO_AUX = {"googlenet": {"aux_logits": False, "init_weights": True},
           "inception_v3": {"aux_logits": False, "init_weights": True}}
_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


@cache
def model_names() -> tuple[str, ...]:
    """Every torchvision classification model name (not detection, segmentation or video)."""
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str) -> str:
    """The name if torchvision has such a classification model; ValueError naming the closest one."""
    if name in model_names():
        return name
    close = difflib.get_close_matches(name.lower(), model_names(), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "e.g. resnet18, vgg16, mobilenet_v3_small, efficientnet_b0"
    raise ValueError(f"'{name}' is not a torchvision classification model; {hint}")


def construct(name: str) -> nn.Module:
    """The architecture with random weights, on torch's current default device."""
    import torchvision.models

    try:
        check_name(name)
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from exc
    return torchvision.models.get_model(name, weights=None, **NO_AUX.get(name, {}))


Head = nn.Linear | nn.Conv2d


def find_head(model: nn.Module) -> tuple[str, Head]:
    """(path, module) of the ImageNet classifier: the last linear (or 1x1 conv) giving 1000 outputs."""
    heads: list[tuple[str, Head]] = [
        (path, module) for path, module in model.named_modules()
        if (isinstance(module, nn.Linear) and module.out_features == IMAGENET_CLASSES)
        or (isinstance(module, nn.Conv2d) and module.out_channels == IMAGENET_CLASSES)]
    if not heads:
        raise WorkbenchError(f"cannot find the classifier of {type(model).__name__} to replace")
    return heads[-1]


def head_inputs(head: Head) -> int:
    """The features (or channels) the head receives."""
    return head.in_features if isinstance(head, nn.Linear) else head.in_channels


def new_head(old: Head, num_classes: int) -> Head:
    """The head for `num_classes`: the same kind of layer with the same inputs."""
    if isinstance(old, nn.Linear):
        return nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    return nn.Conv2d(old.in_channels, num_classes, kernel_size=1)


def replace_module(model: nn.Module, path: str, module: nn.Module) -> None:
    """model.<path> = module, for a dotted path such as 'classifier.6'."""
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent), name, module)


def freeze(model: nn.Module) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def load_weights(model: nn.Module, name: str, weights: str) -> None:
    """Load 'default' (torchvision's download or its cache) or a local state-dict file; 'none' keeps random weights."""
    if weights == "none":
        return
    source = default_weights_url(name) if weights == "default" else weights
    state = _download(name, source) if weights == "default" else _read_file(Path(weights))
    if name.startswith("densenet"):
        state = {_DENSENET_KEY.sub(r"\1\2", key): value for key, value in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise WorkbenchError(f"{source} does not hold {name}'s weights: {_first_line(exc)}") from exc
    unexpected = [key for key in unexpected if not key.startswith(_AUX)]
    if missing or unexpected:
        keys = ", ".join((missing + unexpected)[:3])
        raise WorkbenchError(f"{source} does not hold {name}'s weights ({len(missing)} missing and "
                             f"{len(unexpected)} unexpected keys, e.g. {keys})")


def default_weights_url(name: str) -> str:
    import torchvision.models

    return torchvision.models.get_model_weights(name).DEFAULT.url


def cached_weights_path(name: str) -> Path:
    """Where torchvision keeps the default weights: $TORCH_HOME/hub/checkpoints/<file>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(default_weights_url(name)).path)


def _download(name: str, url: str) -> dict[str, Any]:
    cached = cached_weights_path(name)
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True,
                                                  weights_only=True)
    except OSError as exc:  # no network, refused, HTTP errors
        raise WorkbenchError(
            f"downloading the default weights of {name} failed ({_first_line(exc)}). Put the file from {url} at "
            f"{cached} (torchvision's cache; set TORCH_HOME to move it), or set model.torchvision.weights to "
            "a local file path, or to none to train from random weights") from exc
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise WorkbenchError(f"{cached} is not a usable weights file ({_first_line(exc)}): delete it and retry") from exc


def check_weights_file(path: Path) -> None:
    """A WorkbenchError when a local weights file does not exist."""
    if not path.is_file():
        raise WorkbenchError(f"model.torchvision.weights: no such file {path} (use none, default, or a path to a "
                             "state dict saved with torch.save(model.state_dict(), path))")


def _read_file(path: Path) -> dict[str, Any]:
    check_weights_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise WorkbenchError(f"{path} is not a state dict file ({_first_line(exc)}); a whole pickled model "
                             "is not loaded: it would run code from the file") from exc
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise WorkbenchError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
