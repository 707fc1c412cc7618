"""A planned model as a readable PyTorch source file: real torch class names, explicit numbers."""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError
from core.model import vision
from core.model.build import rebuild
from core.model.modules import Residual
from core.model.stack import StackReport, format_shape

INDENT = "    "


def export_code(plain: dict[str, Any], report: StackReport, num_classes: int) -> str:
    """Python source that builds the model of `plain` (see core/model/build.py); `report` gives the shapes."""
    if "layers" in plain:
        return _layers_code(plain, report, num_classes)
    if "torchvision" in plain:
        return _torchvision_code(plain, num_classes)
    raise WorkbenchError(f"a model.module model is already your own code ({plain.get('module')}); "
                         "export-code writes layer stacks and torchvision models")


def module_code(module: nn.Module, depth: int = 0) -> str:
    """The constructor call that builds `module` (a registry layer, nn.Sequential or Residual)."""
    if isinstance(module, nn.Sequential):
        inner = INDENT * (depth + 1)
        items = "".join(f"{inner}{module_code(child, depth + 1)},\n" for child in module)
        return f"nn.Sequential(\n{items}{INDENT * depth})"
    if isinstance(module, Residual):
        return f"Residual({module_code(module.body, depth)})"
    # our subclasses (PatchWhitening) are the torch class they extend: only their initialisation differs,
    # and the checkpoint brings the weights
    torch_class = next(cls for cls in type(module).__mro__ if cls.__module__.startswith("torch.nn."))
    return f"nn.{torch_class.__name__}({module.extra_repr()})"


def _layers_code(plain: dict[str, Any], report: StackReport, num_classes: int) -> str:
    with torch.device("meta"):
        net = rebuild(plain, num_classes)
    pad = INDENT * 3
    lines = [f"{pad}{module_code(layer, 3)},  # -> {format_shape(row.output_shape)}\n"
             for layer, row in zip(net.children(), report.rows)]
    residual = any(isinstance(m, Residual) for m in net.modules())
    shape = format_shape(plain["input_shape"])
    return (f'"""A model exported by workbench export-code.\n\n'
            f"Input: N x {shape} images, normalised as in training; output: N x {num_classes} class scores.\n"
            "A workbench checkpoint's weights load with net.layers.load_state_dict(checkpoint['state_dict']).\n"
            '"""\nimport torch\nfrom torch import nn\n\n\n'
            + (inspect.getsource(Residual) + "\n\n" if residual else "")
            + "class Net(nn.Module):\n"
            f"{INDENT}def __init__(self) -> None:\n"
            f"{INDENT * 2}super().__init__()\n"
            f"{INDENT * 2}self.layers = nn.Sequential(\n" + "".join(lines) + f"{INDENT * 2})\n\n"
            f"{INDENT}def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
            f"{INDENT * 2}return self.layers(x)\n")


def _torchvision_code(plain: dict[str, Any], num_classes: int) -> str:
    options = plain["torchvision"]
    name = options["name"]
    extra = "".join(f", {key}={value!r}" for key, value in vision.NO_AUX.get(name, {}).items())
    with torch.device("meta"):
        path, _ = vision.find_head(vision.construct(name))
        head = rebuild(plain, num_classes).get_submodule(path)
    body = [f"model = torchvision.models.{name}(weights=None{extra})"]
    if options.get("freeze_backbone"):
        body += ["for parameter in model.parameters():  # the backbone is frozen",
                 f"{INDENT}parameter.requires_grad = False"]
    body.append(f"model{_attribute_path(path)} = {module_code(head)}")
    body.append("return model")
    code = "\n".join(f"{INDENT}{line}" for line in "\n".join(body).splitlines())
    return (f'"""{name} for {num_classes} classes, exported by workbench export-code.\n\n'
            f"Input: N x {format_shape(plain['input_shape'])} images, normalised as in training.\n"
            "Pretrained weights: load them before the head line, e.g. torchvision.models."
            f"{name}(weights='DEFAULT').\n"
            '"""\nimport torchvision\nfrom torch import nn\n\n\n'
            "def build_model() -> nn.Module:\n" + code + "\n")


def _attribute_path(path: str) -> str:
    """'classifier.6' -> '.classifier[6]'."""
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in path.split("."))
