"""The full layer catalog: padding modes, residual blocks, costs, warnings, budgets and stack files."""
import pytest
import torch

from core.errors import ConfigError
from core.model.files import load_stack, save_stack
from core.model.registry import LayerSpec, parse_stack
from core.model.stack import (BudgetError, apply_fix, build_model, check_stack, describe_fix, with_budget)

AUTO_HEAD = ["flatten", {"linear": {"out_features": "auto"}}]


def conv(out_channels, kernel_size=3, **params):
    return {"conv2d": {"out_channels": out_channels, "kernel_size": kernel_size, **params}}


def residual(*layers):
    return {"residual": {"layers": list(layers)}}


def report_of(entries, input_shape=(3, 8, 8), num_classes=10):
    return check_stack(parse_stack(entries), input_shape, num_classes)


def real_output_shape(entries, input_shape):
    model, _ = build_model(parse_stack([*entries, *AUTO_HEAD]), input_shape, 2)
    return tuple(model[: len(entries)](torch.randn(1, *input_shape)).shape[1:])


@pytest.mark.parametrize("padding, side", [("same", 5), ("valid", 3), ("full", 7), (1, 5), ([0, 1], None)])
def test_padding_modes_on_the_tutorials_5x5_input(padding, side):
    report = report_of([conv(1, 3, padding=padding), *AUTO_HEAD], (1, 5, 5))
    expected = (1, side, side) if side else (1, 3, 5)
    assert report.rows[0].output_shape == expected
    assert real_output_shape([conv(1, 3, padding=padding)], (1, 5, 5)) == expected


@pytest.mark.parametrize("kernel, dilation", [(2, 1), (4, 1), ([2, 3], 1), (3, 2), ([4, 2], [1, 3])])
def test_same_padding_keeps_the_size_for_even_and_dilated_kernels(kernel, dilation):
    entries = [conv(4, kernel, padding="same", dilation=dilation)]
    assert report_of([*entries, *AUTO_HEAD], (3, 7, 6)).rows[0].output_shape == (4, 7, 6)
    assert real_output_shape(entries, (3, 7, 6)) == (4, 7, 6)


def test_even_same_padding_pads_right_and_bottom_like_tensorflow():
    model, _ = build_model(parse_stack([conv(1, 2, padding="same", bias=False), *AUTO_HEAD]), (1, 3, 3), 2)
    pad, conv2d = model[0]
    assert isinstance(pad, torch.nn.ZeroPad2d) and pad.padding == (0, 1, 0, 1)
    assert conv2d.padding == (0, 0)


def test_full_padding_with_stride():
    report = report_of([conv(2, 3, padding="full", stride=2), *AUTO_HEAD], (1, 5, 5))
    assert report.rows[0].output_shape == (2, 4, 4)


def test_dilated_kernel_larger_than_the_image():
    error = report_of([conv(4, 3, dilation=3), *AUTO_HEAD], (3, 6, 6)).error
    assert str(error) == ("conv2d #0 receives a 6 x 6 image but kernel_size is 3 (dilated: 7 x 7): "
                          "lower kernel_size, add padding, or remove a pooling layer before it")


def test_conv_groups_must_divide_the_channels():
    error = report_of([conv(6, 3, groups=4), *AUTO_HEAD], (4, 8, 8)).error
    assert str(error) == "conv2d #0: groups 4 does not divide 4 and 6 channels: set groups: 2"
    assert apply_fix(parse_stack([conv(6, 3, groups=4)]), error.fix)[0].params["groups"] == 2


def test_batchnorm_takes_torchs_momentum_and_eps_and_can_keep_its_scale_at_one():
    from core.config import parse_config
    from core.train.engine import train_mode

    layers = [conv(4, padding=1), {"batchnorm2d": {"momentum": 0.4, "eps": 1e-12, "scale": False}}, "relu", *AUTO_HEAD]
    model, _ = build_model(parse_stack(layers), (3, 8, 8), 2)
    norm = model[1]
    assert (norm.momentum, norm.eps, norm.weight.requires_grad, norm.bias.requires_grad) == (0.4, 1e-12, False, True)
    train_mode(model)  # its shift still learns: the statistics move as in any training norm layer
    model(torch.randn(4, 3, 8, 8))
    assert norm.training and norm.running_mean.abs().sum() > 0
    written = "data: {source: shapes}\nmodel:\n  layers:\n    - batchnorm2d: {eps: 1e-12}\n    - flatten\n" \
              "    - linear: {out_features: auto}\n"  # 1e-12 without a dot: a number, as YAML 1.2 reads it
    assert parse_config(written).model.layers[0]["batchnorm2d"]["eps"] == 1e-12


def test_a_zero_init_linear_starts_at_zero_and_learns():
    layers = ["flatten", {"linear": {"out_features": "auto", "zero_init": True}}]
    model, _ = build_model(parse_stack(layers), (3, 4, 4), 3)
    head = model[1]
    assert not head.weight.any() and not head.bias.any()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 3, 4, 4)), torch.arange(8) % 3)
    loss.backward()
    assert head.weight.grad.abs().sum() > 0  # the rows part at the first step: each class's gradient is its own
    default, _ = build_model(parse_stack(layers[:1] + [{"linear": {"out_features": "auto"}}]), (3, 4, 4), 3)
    assert default[1].weight.abs().sum() > 0


def test_groupnorm_groups_must_divide_the_channels():
    error = report_of([conv(6), {"groupnorm": {"num_groups": 4}}, *AUTO_HEAD]).error
    assert str(error) == "groupnorm #1: num_groups 4 does not divide 6 channels: set num_groups: 3"


def test_layernorm_shape_must_be_the_trailing_sizes():
    error = report_of([conv(6, padding=1), {"layernorm": {"normalized_shape": [8, 8, 6]}}, *AUTO_HEAD]).error
    assert str(error) == ("layernorm #1 receives a 6 x 8 x 8 feature map but normalized_shape is [8, 8, 6], "
                          "which must be its trailing sizes: set normalized_shape: [6, 8, 8] or auto")
    assert report_of([conv(6, padding=1), {"layernorm": {"normalized_shape": [8, 8]}}, *AUTO_HEAD]).ok
    assert report_of(["flatten", {"layernorm": {"normalized_shape": 192}}, {"linear": {"out_features": "auto"}}]).ok


def test_reflection_padding_larger_than_the_image_is_a_shape_error():
    error = report_of([{"reflectionpad2d": {"padding": 8}}, *AUTO_HEAD], (3, 4, 4)).error
    assert str(error).startswith("reflectionpad2d #0 cannot take a 3 x 4 x 4 feature map: ")


def test_residual_block_adds_its_input():
    entries = [conv(8, padding=1), residual(conv(8, padding="same"), "relu", "batchnorm2d"), *AUTO_HEAD]
    report = report_of(entries)
    assert report.ok, report.error
    row = report.rows[1]
    assert row.output_shape == (8, 8, 8) and len(row.body) == 3
    assert row.body[0].spec.params["in_channels"] == 8
    assert row.parameters == sum(r.parameters for r in row.body) == 8 * 8 * 9 + 8 + 16
    model, resolved = build_model(parse_stack(entries), (3, 8, 8), 10)
    x = torch.randn(2, 8, 8, 8)
    assert torch.equal(model[1](x), model[1].body(x) + x)
    assert parse_stack([spec.to_entry() for spec in resolved]) == resolved


def test_residual_body_that_changes_the_channels():
    entries = [conv(8, padding=1), residual(conv(16, padding="same"), "relu"), *AUTO_HEAD]
    error = report_of(entries).error
    assert str(error) == ("residual #1: its layers turn a 8 x 8 x 8 feature map into a 16 x 8 x 8 feature map, "
                          "but a residual block adds its input to their output: they must end with a 8 x 8 x 8 "
                          "feature map")
    assert error.layer_index == 1
    fixed = apply_fix(parse_stack(entries), error.fix)
    assert fixed[1].params["layers"][0].params["out_channels"] == 8
    assert check_stack(fixed, (3, 8, 8), 10).ok


def test_error_inside_a_residual_body_names_both_layers_and_its_fix_applies():
    entries = [conv(8, padding=1), residual("relu", conv(8, padding=1, in_channels=3)), *AUTO_HEAD]
    specs = parse_stack(entries)
    error = check_stack(specs, (3, 8, 8), 10).error
    assert str(error) == "residual #1, conv2d #1 receives 8 channels but in_channels is 3: set in_channels: 8 or auto"
    assert error.layer_index == 1
    assert error.fix == {"layer_index": 1, "body": {"layer_index": 1, "set": {"in_channels": 8}}}
    assert describe_fix(specs, error.fix) == "set model.layers[1].residual.layers[1].conv2d.in_channels: 8"
    assert check_stack(apply_fix(specs, error.fix), (3, 8, 8), 10).ok


def test_residual_body_key_paths_in_config_errors():
    with pytest.raises(ConfigError) as caught:
        parse_stack(["relu", "relu", "relu", residual("relu", {"conv2d": {"out_channels": 4, "kernel_size": "x"}})])
    [issue] = caught.value.issues
    assert issue.path == ("model", "layers", 3, "residual", "layers", 1, "conv2d", "kernel_size")


@pytest.mark.parametrize("body, message", [
    ([], "layers must be a list of layers, got []"),
    (["flatten", {"linear": {"out_features": "auto"}}], "out_features: auto is not allowed inside a residual body"),
])
def test_bad_residual_bodies(body, message):
    with pytest.raises(ConfigError) as caught:
        parse_stack([{"residual": {"layers": body}}])
    assert caught.value.issues[0].path == ("model", "layers", 0, "residual", "layers")
    assert message in caught.value.issues[0].message


def test_costs_per_row():
    report = report_of([conv(16, 3, padding=1), "batchnorm2d", "relu", {"maxpool2d": {"kernel_size": 2}},
                        *AUTO_HEAD], (3, 8, 8))
    conv_row, norm_row, _, pool_row, _, linear_row = report.rows
    assert conv_row.mult_adds == 16 * 8 * 8 * 3 * 3 * 3
    assert norm_row.mult_adds == 16 * 8 * 8
    assert pool_row.mult_adds == 0 and linear_row.mult_adds == 256 * 10
    assert conv_row.activation_bytes == 16 * 8 * 8 * 4 and linear_row.activation_bytes == 40
    assert conv_row.trainable == conv_row.parameters == 16 * 27 + 16 and conv_row.frozen == 0
    assert report.total_trainable == report.total_parameters


@pytest.mark.parametrize("entries, warning", [
    (["flatten", {"linear": {"out_features": 64}}, "dropout", {"linear": {"out_features": "auto"}}],
     "linear #1 and linear #3 have no activation between them"),
    (["flatten", {"linear": {"out_features": "auto"}}, "softmax"],
     "softmax #2 ends the model, but the loss (cross-entropy) applies softmax itself"),
])
def test_warnings_for_suspicious_stacks(entries, warning):
    report = report_of(entries)
    assert report.ok
    assert len(report.warnings) == 1 and report.warnings[0].startswith(warning)


def test_no_warning_with_an_activation_between_linears():
    assert report_of(["flatten", {"linear": {"out_features": 64}}, "relu", {"linear": {"out_features": "auto"}}]).warnings == []


def test_budget_refuses_too_many_parameters():
    report = report_of(["flatten", {"linear": {"out_features": 4096}}, "relu", {"linear": {"out_features": "auto"}}],
                       (3, 32, 32))
    assert with_budget(report, 10**9, 2**40) is report
    refused = with_budget(report, 1_000_000, 2**40)
    assert isinstance(refused.error, BudgetError) and refused.error.layer_index == 1
    assert str(refused.error).startswith("the model has 12,627,978 parameters, over model.budget.max_parameters "
                                         "(1,000,000); the largest layer is linear #1 with 12,587,008")


def test_budget_refuses_too_much_activation_memory():
    report = report_of([conv(64, padding=1), *AUTO_HEAD], (3, 64, 64))
    refused = with_budget(report, 10**9, 2**20, batch_size=64)
    assert isinstance(refused.error, BudgetError)
    assert str(refused.error).startswith("a batch of 64 keeps 128 MB of activations, over model.budget.max_activation_mb (1 MB)")


def test_stack_files_round_trip(tmp_path):
    specs = parse_stack([conv(8, padding="same"), residual("relu"), *AUTO_HEAD])
    save_stack(specs, tmp_path / "stack.yaml")
    assert load_stack(tmp_path / "stack.yaml") == specs
    (tmp_path / "bad.yaml").write_text("layers: [relu, {conv2d: {out_channels: 8}}]\n")
    with pytest.raises(ConfigError) as caught:
        load_stack(tmp_path / "bad.yaml")
    assert caught.value.issues[0].path == ("layers", 1, "conv2d", "kernel_size")


def test_unknown_kinds_label_as_themselves():
    from core.model.registry import layer_label

    assert layer_label(LayerSpec("layer1 (Sequential)", {})) == "layer1 (Sequential)"
