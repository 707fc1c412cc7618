"""One entry point for every model kind: layers, torchvision by name, a user's module; budgets and rebuilds."""
import textwrap
import urllib.error

import pytest
import torch
from torch import nn

from core.model.checkpoints import FORMAT, load_checkpoint, rebuild_model, save_checkpoint
from core.config import validate_config
from core.errors import ConfigError, ShapeError, WorkbenchError
from core.model.build import build_for, check_for, fix_text, rebuild
from core.model.stack import BudgetError
from core.model.vision import cached_weights_path, model_names

SHAPE = (3, 32, 32)
HEAD = ["flatten", {"linear": {"out_features": "auto"}}]


def model_config(**model):
    return validate_config({"model": model}).model


def test_layers_build_and_rebuild_from_the_plain_spec():
    config = model_config(layers=[{"conv2d": {"out_channels": 4, "kernel_size": 3}}, *HEAD])
    model, plain = build_for(config, SHAPE, 5)
    assert plain == {"layers": [
        {"conv2d": {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 0,
                    "dilation": 1, "groups": 1, "bias": True}},
        "flatten", {"linear": {"in_features": 3600, "out_features": 5, "bias": True,
                                "zero_init": False}}], "input_shape": [3, 32, 32]}
    rebuilt = rebuild(plain, 5)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, *SHAPE)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))


def test_shape_errors_come_with_the_config_fix():
    config = model_config(layers=["flatten", {"linear": {"in_features": 10, "out_features": "auto"}}])
    report = check_for(config, SHAPE, 5)
    assert fix_text(config, report.error) == "set model.layers[1].linear.in_features: 3072"
    with pytest.raises(ShapeError):
        build_for(config, SHAPE, 5)


def test_budget_is_refused_before_anything_is_allocated(monkeypatch):
    config = model_config(layers=HEAD, budget={"max_parameters": 1000})
    initialise = nn.Linear.reset_parameters

    def meta_only(self):
        assert self.weight.device.type == "meta", "a real tensor was allocated"
        initialise(self)

    monkeypatch.setattr(nn.Linear, "reset_parameters", meta_only)
    report = check_for(config, SHAPE, 5)
    assert isinstance(report.error, BudgetError)
    with pytest.raises(BudgetError, match="over model.budget.max_parameters"):
        build_for(config, SHAPE, 5)


def test_activation_budget_uses_the_batch_size():
    config = model_config(layers=HEAD, budget={"max_activation_mb": 1})
    assert check_for(config, SHAPE, 5, batch_size=8).ok
    assert isinstance(check_for(config, SHAPE, 5, batch_size=512).error, BudgetError)


@pytest.mark.parametrize("model, message", [
    ({}, "give exactly one of model.layers, model.torchvision or model.module"),
    ({"layers": HEAD, "torchvision": {"name": "resnet18"}}, "(got layers and torchvision)"),
    ({"layers": HEAD, "module_args": {"a": 1}}, "module_args applies to model.module only"),
    ({"torchvision": {"name": "resnet81"}}, "'resnet81' is not a torchvision classification model; did you mean 'resnet18'?"),
    ({"torchvision": {"name": "fasterrcnn_resnet50_fpn"}}, "is not a torchvision classification model"),
    ({"module": "os.system"}, "should match pattern"),
])
def test_model_section_errors(model, message):
    with pytest.raises(ConfigError) as caught:
        validate_config({"model": model})
    assert message in str(caught.value)


def test_torchvision_allowlist_is_classification_only():
    names = model_names()
    assert {"resnet18", "vgg16", "mobilenet_v3_small", "efficientnet_b0"} <= set(names)
    assert not any(name.startswith(("fasterrcnn", "fcn_", "r3d_", "raft")) for name in names)


def test_torchvision_head_is_replaced_for_the_classes():
    config = model_config(torchvision={"name": "vgg16"})
    report = check_for(config, SHAPE, 10)
    assert report.ok and report.output_shape == (10,)
    assert [row.spec.kind for row in report.rows] == ["features (Sequential)", "avgpool (AdaptiveAvgPool2d)",
                                                      "classifier (Sequential)"]
    model, plain = build_for(config, SHAPE, 10)
    head = model.classifier[6]
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (4096, 10)
    assert report.total_parameters == sum(p.numel() for p in model.parameters())
    assert model.eval()(torch.randn(2, *SHAPE)).shape == (2, 10)
    assert plain == {"torchvision": {"name": "vgg16", "freeze_backbone": False, "append": []}, "input_shape": [3, 32, 32]}


def test_torchvision_table_matches_a_real_forward():
    config = model_config(torchvision={"name": "resnet18"})
    report = check_for(config, SHAPE, 3)
    model, _ = build_for(config, SHAPE, 3)
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen[name] = (args[0].shape[1:], output.shape[1:])
        return hook

    for name, child in model.named_children():
        child.register_forward_hook(record(name))
    model.eval()(torch.randn(1, *SHAPE))
    for row in report.rows:
        name = row.spec.kind.split(" ")[0]
        assert (row.input_shape, row.output_shape) == tuple(tuple(s) for s in seen[name])
        assert row.parameters == sum(p.numel() for p in model.get_submodule(name).parameters())


def test_frozen_backbone_with_appended_layers():
    append = [{"linear": {"out_features": 32}}, "relu", {"dropout": {"p": 0.1}}, {"linear": {"out_features": "auto"}}]
    config = model_config(torchvision={"name": "mobilenet_v3_small", "freeze_backbone": True, "append": append})
    report = check_for(config, SHAPE, 4)
    model, plain = build_for(config, SHAPE, 4)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == report.total_trainable == 1024 * 32 + 32 + 32 * 4 + 4
    assert report.total_frozen == sum(p.numel() for p in model.parameters() if not p.requires_grad) > 900_000
    assert isinstance(model.classifier[3], nn.Sequential)
    assert plain["torchvision"]["append"][0]["linear"]["in_features"] == 1024
    rebuilt = rebuild(plain, 4)
    rebuilt.load_state_dict(model.state_dict())


def test_appended_layers_are_shape_checked_with_their_key_path():
    config = model_config(torchvision={"name": "resnet18", "append": [{"linear": {"in_features": 256, "out_features": "auto"}}]})
    report = check_for(config, SHAPE, 4)
    assert str(report.error) == "linear #0 receives 512 features but in_features is 256: set in_features: 512 or auto"
    assert fix_text(config, report.error) == "set model.torchvision.append[0].linear.in_features: 512"


def test_torchvision_input_too_small_is_a_shape_error():
    report = check_for(model_config(torchvision={"name": "alexnet"}), (3, 32, 32), 10)
    assert isinstance(report.error, ShapeError)
    assert str(report.error).startswith("features cannot take a 3 x 32 x 32 image (")


def test_default_weights_offline_say_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    config = model_config(torchvision={"name": "resnet18", "weights": "default"})
    assert "downloads https://download.pytorch.org/models/resnet18-" in check_for(config, SHAPE, 2).warnings[0]
    with pytest.raises(WorkbenchError) as caught:
        build_for(config, SHAPE, 2)
    message = str(caught.value)
    expected = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert message.startswith("downloading the default weights of resnet18 failed")
    assert str(expected) in message and "local file path" in message


def test_default_weights_from_torchvisions_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    pretrained = _torchvision_weights("resnet18")
    cached = cached_weights_path("resnet18")
    assert cached == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(pretrained, cached)
    config = model_config(torchvision={"name": "resnet18", "weights": "default"})
    assert check_for(config, SHAPE, 2).warnings == []
    model, _ = build_for(config, SHAPE, 2)
    assert torch.equal(model.conv1.weight, pretrained["conv1.weight"])
    assert model.fc.out_features == 2


def test_local_weights_file(tmp_path):
    pretrained = _torchvision_weights("squeezenet1_1")
    torch.save(pretrained, tmp_path / "squeeze.pth")
    config = model_config(torchvision={"name": "squeezenet1_1", "weights": str(tmp_path / "squeeze.pth")})
    model, _ = build_for(config, SHAPE, 3)
    assert torch.equal(model.features[0].weight, pretrained["features.0.weight"])
    assert model.classifier[1].out_channels == 3


def test_bad_local_weights(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file"):
        check_for(model_config(torchvision={"name": "resnet18", "weights": str(tmp_path / "none.pth")}), SHAPE, 2)
    torch.save(_torchvision_weights("resnet18"), tmp_path / "resnet.pth")
    config = model_config(torchvision={"name": "resnet34", "weights": str(tmp_path / "resnet.pth")})
    with pytest.raises(WorkbenchError, match="does not hold resnet34's weights"):
        build_for(config, SHAPE, 2)


USER_MODULE = '''
    from torch import nn

    class Net(nn.Module):
        def __init__(self, num_classes, width=8):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
            self.head = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))
'''


def test_user_module_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "models.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = model_config(module="mypkg.models:Net", module_args={"width": 4})
    report = check_for(config, SHAPE, 3)
    assert report.ok and report.warnings[0].startswith("model.module runs your own code: mypkg.models:Net")
    assert [row.spec.kind for row in report.rows] == ["features (Sequential)", "head (Linear)"]
    model, plain = build_for(config, SHAPE, 3)
    assert plain == {"module": "mypkg.models:Net", "module_args": {"width": 4}, "input_shape": [3, 32, 32]}
    assert model(torch.randn(2, *SHAPE)).shape == (2, 3)
    with pytest.raises(WorkbenchError, match="allow_user_code=True"):
        rebuild(plain, 3)
    checkpoint = {"format": dict(FORMAT), "model": plain, "state_dict": model.state_dict(), "classes": ["a", "b", "c"],
                  "preprocess": {}, "config": {}, "epoch": 1, "metrics": {}}
    save_checkpoint(tmp_path / "user.pt", checkpoint)
    loaded = load_checkpoint(tmp_path / "user.pt")
    with pytest.raises(WorkbenchError, match="runs that code"):
        rebuild_model(loaded)
    assert isinstance(rebuild_model(loaded, allow_user_code=True), nn.Module)


@pytest.mark.parametrize("path, message", [("nopkg.models:Net", "cannot import nopkg.models"),
                                           ("os.path:join", "has no nn.Module subclass named join")])
def test_user_module_errors(path, message):
    with pytest.raises(WorkbenchError, match=message):
        check_for(model_config(module=path), SHAPE, 3)


def test_torchvision_checkpoint_rebuilds_through_the_allowlist(tmp_path):
    model, plain = build_for(model_config(torchvision={"name": "resnet18"}), SHAPE, 2)
    checkpoint = {"format": dict(FORMAT), "model": plain, "state_dict": model.state_dict(), "classes": ["a", "b"],
                  "preprocess": {}, "config": {}, "epoch": 1, "metrics": {}}
    save_checkpoint(tmp_path / "tv.pt", checkpoint)
    rebuilt = rebuild_model(load_checkpoint(tmp_path / "tv.pt"))
    x = torch.randn(1, *SHAPE)
    assert torch.equal(rebuilt(x), model.eval()(x))
    with pytest.raises(WorkbenchError, match="not a torchvision classification model"):
        rebuild({**plain, "torchvision": {"name": "__import__"}}, 2)


def _torchvision_weights(name):
    """Stand-in pretrained weights: a state dict of torchvision's own architecture."""
    import torchvision

    torch.manual_seed(1)
    return torchvision.models.get_model(name, weights=None).state_dict()
