"""Shape inference on the meta device: agreement with real forwards, auto, errors and their fixes."""

import pytest
import torch

from core.errors import ShapeError
from core.model.registry import LayerSpec, layer_names, parse_stack
from core.model.stack import apply_fix, build_model, check_stack, format_shape

AUTO_HEAD = ["flatten", {"linear": {"out_features": "auto"}}]

# One example per registered layer: its entry and an input it takes.
EXAMPLES = {
    "conv2d": ({"conv2d": {"out_channels": 6, "kernel_size": [3, 5], "stride": 2, "padding": [1, 0]}}, (3, 11, 13)),
    "whitening": ({"whitening": {"out_channels": 10, "padding": 1}}, (3, 8, 9)),
    "maxpool2d": ({"maxpool2d": {"kernel_size": 3, "stride": 2, "padding": 1}}, (4, 9, 10)),
    "avgpool2d": ({"avgpool2d": {"kernel_size": [2, 3]}}, (4, 9, 10)),
    "batchnorm2d": ("batchnorm2d", (5, 4, 4)),
    "relu": ("relu", (3, 4, 4)),
    "leakyrelu": ({"leakyrelu": {"negative_slope": 0.2}}, (7,)),
    "gelu": ("gelu", (7,)),
    "sigmoid": ("sigmoid", (3, 4, 4)),
    "tanh": ("tanh", (7,)),
    "softmax": ("softmax", (3, 4, 4)),
    "logsoftmax": ("logsoftmax", (10,)),
    "dropout": ({"dropout": {"p": 0.1}}, (3, 4, 4)),
    "dropout2d": ("dropout2d", (3, 4, 4)),
    "flatten": ("flatten", (3, 4, 5)),
    "linear": ({"linear": {"out_features": 9, "bias": False}}, (12,)),
    "identity": ("identity", (3, 4, 4)),
    "convtranspose2d": ({"convtranspose2d": {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
                                             "output_padding": 1, "dilation": 1}}, (6, 5, 7)),
    "adaptiveavgpool2d": ({"adaptiveavgpool2d": {"output_size": [2, 3]}}, (4, 9, 10)),
    "adaptivemaxpool2d": ("adaptivemaxpool2d", (4, 9, 10)),
    "zeropad2d": ({"zeropad2d": {"padding": [1, 2, 0, 3]}}, (2, 5, 5)),
    "reflectionpad2d": ({"reflectionpad2d": {"padding": 2}}, (2, 5, 5)),
    "replicationpad2d": ({"replicationpad2d": {"padding": [0, 1, 2, 3]}}, (2, 5, 5)),
    "batchnorm1d": ("batchnorm1d", (7,)),
    "groupnorm": ({"groupnorm": {"num_groups": 3}}, (6, 4, 4)),
    "layernorm": ("layernorm", (3, 4, 4)),
    "elu": ({"elu": {"alpha": 0.5}}, (7,)),
    "silu": ("silu", (3, 4, 4)),
    "residual": ({"residual": {"layers": [{"conv2d": {"out_channels": 3, "kernel_size": 3, "padding": "same"}},
                                          "relu"]}}, (3, 6, 6)),
}

CIFAR10 = [
    {"conv2d": {"out_channels": 32, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
    {"conv2d": {"out_channels": 32, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
    {"conv2d": {"out_channels": 64, "kernel_size": 5, "padding": 2}}, {"maxpool2d": {"kernel_size": 2}},
    "flatten", {"linear": {"out_features": 64}}, {"linear": {"out_features": "auto"}},
]


def conv(out_channels, kernel_size=3, **params):
    return {"conv2d": {"out_channels": out_channels, "kernel_size": kernel_size, **params}}


def pool(kernel_size=2):
    return {"maxpool2d": {"kernel_size": kernel_size}}


def error_of(entries, input_shape=(3, 32, 32), num_classes=10) -> ShapeError:
    report = check_stack(parse_stack(entries), input_shape, num_classes)
    assert not report.ok and isinstance(report.error, ShapeError)
    return report.error


def test_every_layer_has_an_example():
    assert set(EXAMPLES) == set(layer_names())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_inferred_shapes_and_parameters_match_a_real_forward(name):
    entry, input_shape = EXAMPLES[name]
    report = check_stack(parse_stack([entry, *AUTO_HEAD]), input_shape, num_classes=3)
    assert report.ok, report.error
    model, _ = build_model(parse_stack([entry, *AUTO_HEAD]), input_shape, num_classes=3)
    model.eval()
    x = torch.randn(2, *input_shape)
    for row, module in zip(report.rows, model):
        assert row.input_shape == tuple(x.shape[1:])
        x = module(x)
        assert row.output_shape == tuple(x.shape[1:]), row
        assert row.parameters == sum(p.numel() for p in module.parameters())


def test_cifar10_tutorial_stack():
    specs = parse_stack(CIFAR10)
    report = check_stack(specs, (3, 32, 32), num_classes=10)
    assert report.ok and report.output_shape == (10,)
    assert [row.output_shape for row in report.rows][:2] == [(32, 32, 32), (32, 16, 16)]
    assert report.total_parameters == 145_578
    model, _ = build_model(specs, (3, 32, 32), num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == 145_578
    assert model(torch.zeros(4, 3, 32, 32)).shape == (4, 10)


def test_auto_params_are_resolved():
    specs = parse_stack([conv(16), "batchnorm2d", *AUTO_HEAD])
    _, resolved = build_model(specs, (1, 8, 8), num_classes=4)
    assert resolved[0].params["in_channels"] == 1
    assert resolved[1].params == {"num_features": 16, "momentum": 0.1, "eps": 1e-5, "scale": True}
    assert resolved[3].params["in_features"] == 16 * 6 * 6
    assert resolved[3].params["out_features"] == 4
    assert all(value != "auto" for spec in resolved for value in spec.params.values())


def test_resolved_specs_rebuild_the_same_architecture():
    model, resolved = build_model(parse_stack(CIFAR10), (3, 32, 32), num_classes=10)
    rebuilt, resolved_again = build_model(parse_stack([spec.to_entry() for spec in resolved]), (3, 32, 32), 10)
    assert resolved_again == resolved
    assert list(model.state_dict()) == list(rebuilt.state_dict())
    assert list(model.state_dict())[:2] == ["0.weight", "0.bias"]
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in rebuilt.state_dict().items()}
    rebuilt.load_state_dict(model.state_dict())


def test_models_are_real_cpu_tensors():
    model, _ = build_model(parse_stack(CIFAR10), (3, 32, 32), num_classes=10)
    assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_in_features_mismatch():
    entries = [conv(32, 5, padding=2), pool(), conv(32, 5, padding=2), pool(), conv(64, 5, padding=2),
               "relu", "flatten", {"linear": {"in_features": 1024, "out_features": 10}}]
    error = error_of(entries)
    assert str(error) == "linear #7 receives 4096 features (64 x 8 x 8) but in_features is 1024: set in_features: 4096 or auto"
    assert error.layer_index == 7
    assert error.fix == {"layer_index": 7, "set": {"in_features": 4096}}


def test_in_channels_mismatch():
    error = error_of([conv(16, padding=1), "relu", conv(8, in_channels=3), *AUTO_HEAD])
    assert str(error) == "conv2d #2 receives 16 channels but in_channels is 3: set in_channels: 16 or auto"
    assert error.fix == {"layer_index": 2, "set": {"in_channels": 16}}


def test_num_features_mismatch():
    error = error_of([conv(16), {"batchnorm2d": {"num_features": 8}}, *AUTO_HEAD])
    assert str(error) == "batchnorm2d #1 receives 16 channels but num_features is 8: set num_features: 16 or auto"


def test_linear_on_a_feature_map():
    error = error_of([conv(64, padding=1), pool(), pool(), "relu", "dropout", {"linear": {"out_features": "auto"}}])
    assert str(error) == "linear #5 receives a 64 x 8 x 8 feature map: add flatten before it"
    assert error.fix is None


def test_kernel_larger_than_the_image():
    error = error_of([pool(), pool(), pool(), "relu", conv(8, 5), *AUTO_HEAD], input_shape=(3, 16, 16))
    assert str(error) == ("conv2d #4 receives a 2 x 2 image but kernel_size is 5: "
                          "lower kernel_size, add padding, or remove a pooling layer before it")


def test_pool_larger_than_the_image():
    error = error_of([pool(4), {"avgpool2d": {"kernel_size": [2, 5]}}, *AUTO_HEAD], input_shape=(3, 16, 16))
    assert str(error).startswith("avgpool2d #1 receives a 4 x 4 image but kernel_size is [2, 5]: ")


def test_image_layer_after_flatten():
    error = error_of(["flatten", conv(8)])
    assert str(error) == ("conv2d #1 receives 3072 features but needs a channels x height x width feature map: "
                          "move it before flatten")


def test_wrong_number_of_outputs():
    error = error_of(["flatten", {"linear": {"out_features": 64}}, "relu"], num_classes=5)
    assert str(error) == "the model ends with 64 outputs but the data has 5 classes: set the last linear's out_features: auto"
    assert error.fix == {"layer_index": 1, "set": {"out_features": "auto"}}


def test_ending_with_a_feature_map():
    error = error_of([conv(8)], num_classes=5)
    assert str(error) == ("the model ends with a 8 x 30 x 30 feature map but the data has 5 classes: "
                          "add flatten and linear with out_features: auto at the end")
    assert error.fix is None


def test_auto_out_features_before_the_last_linear():
    auto_linear = LayerSpec("linear", {"in_features": "auto", "out_features": "auto", "bias": True})
    specs = [LayerSpec("flatten", {}), auto_linear, auto_linear]
    report = check_stack(specs, (3, 4, 4), 10)
    assert report.error.layer_index == 1
    assert "only on the last linear" in str(report.error) and "give a number" in str(report.error)


@pytest.mark.parametrize("unchecked", [
    LayerSpec("maxpool2d", {"kernel_size": 2, "stride": None, "padding": 2, "dilation": 1, "ceil_mode": False}),
    LayerSpec("reflectionpad2d", {"padding": 8}),
])
def test_errors_from_building_or_the_meta_forward_are_wrapped(unchecked):
    report = check_stack([LayerSpec("relu", {}), unchecked], (3, 8, 8), 10)
    assert report.error.layer_index == 1 and report.error.fix is None
    assert str(report.error).startswith(f"{unchecked.kind} #1 cannot take a 3 x 8 x 8 feature map: ")


def test_failed_report_keeps_rows_before_the_failing_layer():
    report = check_stack(parse_stack([conv(16), "relu", conv(8, in_channels=3)]), (3, 8, 8), 10)
    assert [row.index for row in report.rows] == [0, 1]
    assert report.output_shape == (16, 6, 6)


def test_build_model_raises_the_shape_error():
    with pytest.raises(ShapeError, match="add flatten before it"):
        build_model(parse_stack([{"linear": {"out_features": "auto"}}]), (3, 8, 8), 10)


@pytest.mark.parametrize("entries, num_classes", [
    ([conv(16, padding=1), "relu", conv(8, in_channels=3), *AUTO_HEAD], 10),
    (["flatten", {"linear": {"in_features": 10, "out_features": 64}}, {"linear": {"out_features": 64}}], 5),
])
def test_apply_fix_makes_the_stack_valid(entries, num_classes):
    specs = parse_stack(entries)
    remaining = check_stack(specs, (3, 8, 8), num_classes)
    for _ in range(3):
        if remaining.ok:
            break
        specs = apply_fix(specs, remaining.error.fix)
        remaining = check_stack(specs, (3, 8, 8), num_classes)
    assert remaining.ok and remaining.output_shape == (num_classes,)


def test_fifty_layer_stack_is_checked():
    """A deep stack resolves every auto (its speed is measured by bench/shape_check.py)."""
    specs = parse_stack([conv(8, padding=1), "relu", "batchnorm2d"] * 16 + [pool(), *AUTO_HEAD])
    report = check_stack(specs, (3, 32, 32), 10)
    assert len(report.rows) == 51 and report.ok and report.output_shape == (10,)
    assert report.rows[2].spec.params["num_features"] == 8


def test_format_shape():
    assert format_shape((64, 8, 8)) == "64 x 8 x 8"
    assert format_shape((10,)) == "10"
