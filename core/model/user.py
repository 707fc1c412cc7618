"""A user's own nn.Module by import path ('package.module:Class'): this imports and runs their code."""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from torch import nn

from core.errors import WorkbenchError


def load_class(path: str) -> type[nn.Module]:
    """The nn.Module subclass named by 'package.module:Class', importable from the working folder."""
    module_name, _, class_name = path.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkbenchError(f"model.module: cannot import {module_name} ({exc}); run workbench from the folder "
                             "that holds the package, or install it") from exc
    cls = vars(module).get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise WorkbenchError(f"model.module: {module_name} has no nn.Module subclass named {class_name}")
    return cls


def construct_user(path: str, args: dict[str, Any], num_classes: int) -> nn.Module:
    """An instance of the class; `num_classes` is passed when its __init__ takes it and args do not set it."""
    cls = load_class(path)
    kwargs = dict(args)
    if "num_classes" in inspect.signature(cls).parameters:
        kwargs.setdefault("num_classes", num_classes)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise WorkbenchError(f"model.module_args do not fit {path}: {exc}") from exc
