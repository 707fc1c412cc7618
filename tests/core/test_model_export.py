"""Exported code builds the same model: exec it, load the built model's weights, compare outputs."""
import pytest
import torch

from core.config import validate_config
from core.errors import WorkbenchError
from core.model.build import build_for, plan_for
from core.model.export import export_code

from tests.core.test_model_stack import EXAMPLES

SHAPE = (3, 16, 16)


def exported(model, input_shape, num_classes):
    config = validate_config({"model": model}).model
    report, plain = plan_for(config, input_shape, num_classes)
    assert report.ok, report.error
    code = export_code(plain, report, num_classes)
    namespace: dict = {}
    exec(compile(code, "<exported>", "exec"), namespace)
    built, _ = build_for(config, input_shape, num_classes)
    return code, namespace, built


def same_outputs(a, b, input_shape):
    a.eval(), b.eval()
    x = torch.randn(3, *input_shape)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_layer_exports_to_the_same_model(name):
    entry, input_shape = EXAMPLES[name]
    code, namespace, built = exported({"layers": [entry, "flatten", {"linear": {"out_features": "auto"}}]},
                                      input_shape, 3)
    net = namespace["Net"]()
    net.layers.load_state_dict(built.state_dict())
    assert same_outputs(net.layers, built, input_shape)


def test_stack_export_is_readable_plain_pytorch():
    layers = [{"conv2d": {"out_channels": 8, "kernel_size": 4, "padding": "same"}}, "batchnorm2d", "relu",
              {"residual": {"layers": [{"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": "same"}}, "gelu"]}},
              {"maxpool2d": {"kernel_size": 2}}, "flatten", {"linear": {"out_features": "auto"}}]
    code, namespace, built = exported({"layers": layers}, SHAPE, 4)
    assert "class Net(nn.Module):" in code and "self.layers = nn.Sequential(" in code
    assert "nn.ZeroPad2d((1, 2, 1, 2))" in code and "nn.Conv2d(3, 8, kernel_size=(4, 4)" in code
    assert "class Residual(nn.Module):" in code and "nn.Linear(in_features=512, out_features=4" in code
    assert "workbench" not in code.split('"""', 2)[2]  # no import of workbench in the code itself
    net = namespace["Net"]()
    net.layers.load_state_dict(built.state_dict())
    assert same_outputs(net, built, SHAPE)


@pytest.mark.parametrize("options, head", [
    ({"name": "resnet18"}, "model.fc = nn.Linear(in_features=512, out_features=5, bias=True)"),
    ({"name": "vgg11", "freeze_backbone": True},
     "model.classifier[6] = nn.Linear(in_features=4096, out_features=5, bias=True)"),
    ({"name": "mobilenet_v3_small", "append": [{"linear": {"out_features": 16}}, "relu", {"linear": {"out_features": "auto"}}]},
     "model.classifier[3] = nn.Sequential(\n        nn.Linear(in_features=1024, out_features=16, bias=True),"),
])
def test_torchvision_export_is_the_constructor_and_the_head(options, head):
    code, namespace, built = exported({"torchvision": options}, (3, 32, 32), 5)
    assert f"model = torchvision.models.{options['name']}(weights=None)" in code
    assert head in code
    net = namespace["build_model"]()
    net.load_state_dict(built.state_dict())
    assert same_outputs(net, built, (3, 32, 32))
    assert [p.requires_grad for p in net.parameters()] == [p.requires_grad for p in built.parameters()]


def test_user_modules_are_not_exported():
    with pytest.raises(WorkbenchError, match="already your own code"):
        export_code({"module": "pkg:Net", "input_shape": [3, 8, 8]}, None, 2)
