"""The layer allowlist: entry forms, defaults, to_entry, and every kind of parse error."""
import pytest

from core.config import validate_config
from core.errors import ConfigError
from core.model.registry import LayerSpec, describe, layer_names, parse_layer, parse_stack

REQUIRED_LAYERS = {"conv2d", "maxpool2d", "avgpool2d", "relu", "sigmoid", "tanh", "batchnorm2d", "dropout", "flatten", "linear"}
LAYERS_PATH = ("model", "layers")


def issues_of(entries):
    with pytest.raises(ConfigError) as caught:
        parse_stack(entries)
    return caught.value.issues


def single_issue(entries):
    issues = issues_of(entries)
    assert len(issues) == 1, issues
    return issues[0]


def test_required_layers_are_registered_and_described():
    assert REQUIRED_LAYERS <= set(layer_names())
    assert all(describe(name).strip() for name in layer_names())


@pytest.mark.parametrize("entry", ["relu", {"relu": None}, {"relu": {}}])
def test_entry_forms_without_params(entry):
    assert parse_stack([entry]) == [LayerSpec("relu", {})]


def test_conv2d_defaults_are_filled_in():
    [spec] = parse_stack([{"conv2d": {"out_channels": 32, "kernel_size": 5}}])
    assert spec.params == {"in_channels": "auto", "out_channels": 32, "kernel_size": 5,
                           "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}


def test_pairs_are_tuples_in_specs_and_lists_in_entries():
    [spec] = parse_stack([{"maxpool2d": {"kernel_size": [2, 3], "padding": [1, 0]}}])
    assert spec.params["kernel_size"] == (2, 3)
    assert spec.to_entry() == {"maxpool2d": {"kernel_size": [2, 3], "stride": None, "padding": [1, 0],
                                             "dilation": 1, "ceil_mode": False}}


def test_to_entry_round_trips():
    entries = ["relu", {"conv2d": {"out_channels": 8, "kernel_size": [3, 3], "padding": "same"}},
               {"dropout": {"p": 0.25}}, "flatten", {"linear": {"out_features": "auto"}}]
    specs = parse_stack(entries)
    assert specs[0].to_entry() == "relu"
    assert specs[4].to_entry() == {"linear": {"in_features": "auto", "out_features": "auto", "bias": True,
                                              "zero_init": False}}
    assert parse_stack([spec.to_entry() for spec in specs]) == specs


@pytest.mark.parametrize("name", ["Conv2d", "conv2", "__class__", "eval", "Module"])
def test_names_outside_the_allowlist_are_unknown(name):
    issue = single_issue([{name: {"out_channels": 8, "kernel_size": 3}}])
    assert issue.path == ("model", "layers", 0)
    assert "unknown layer" in issue.message


def test_unknown_layer_suggests_nearest_name():
    issue = single_issue(["relu", "relu", "relu", {"conv2": {"out_channels": 8, "kernel_size": 3}}])
    assert issue.path == ("model", "layers", 3)
    assert issue.message == "unknown layer 'conv2'"
    assert issue.hint == "did you mean 'conv2d'?"


def test_unknown_layer_without_close_name_lists_valid_names():
    issue = single_issue(["transformer"])
    assert "conv2d" in issue.hint and "linear" in issue.hint


def test_unknown_param_suggests_nearest_name():
    issue = single_issue([{"conv2d": {"out_channels": 8, "kernal_size": 3, "kernel_size": 3}}])
    assert issue.path == ("model", "layers", 0, "conv2d", "kernal_size")
    assert "unknown param 'kernal_size'" in issue.message
    assert issue.hint == "did you mean 'kernel_size'?"


def test_param_on_a_layer_without_params():
    issue = single_issue([{"relu": {"inplace": True}}])
    assert issue.path == ("model", "layers", 0, "relu", "inplace")
    assert issue.hint == "relu takes no params"


@pytest.mark.parametrize("param, value, shown", [
    ("kernel_size", "five", "'five'"), ("kernel_size", 0, "0"), ("kernel_size", [3, 3, 3], "[3, 3, 3]"),
    ("kernel_size", True, "true"), ("stride", 1.5, "1.5"), ("padding", -1, "-1"), ("padding", "half", "'half'"),
    ("bias", "yes", "'yes'"), ("in_channels", "automatic", "'automatic'"),
])
def test_wrong_type_or_range_says_what_was_received(param, value, shown):
    issue = single_issue([{"conv2d": {"out_channels": 8, "kernel_size": 3, param: value}}])
    assert issue.path == ("model", "layers", 0, "conv2d", param)
    assert issue.message.startswith(f"{param} must be ")
    assert issue.message.endswith(f", got {shown}")


@pytest.mark.parametrize("p", [1, 1.0, 1.5, -0.1, "half"])
def test_dropout_probability_out_of_range(p):
    issue = single_issue([{"dropout": {"p": p}}])
    assert issue.path == ("model", "layers", 0, "dropout", "p")
    assert "from 0 up to (not including) 1" in issue.message


def test_missing_required_param():
    issue = single_issue([{"conv2d": {"kernel_size": 3}}])
    assert issue.path == ("model", "layers", 0, "conv2d", "out_channels")
    assert issue.message == "out_channels is required (a positive integer)"


@pytest.mark.parametrize("entry, got", [
    ({"conv2d": {"out_channels": 8, "kernel_size": 3}, "relu": None}, "a mapping with 2 keys (conv2d, relu)"),
    (["relu"], '["relu"]'), (5, "5"), ({}, "got an empty mapping"),
])
def test_bad_entry_forms(entry, got):
    issue = single_issue(["relu", entry])
    assert issue.path == ("model", "layers", 1)
    assert issue.message.startswith("a layer entry must be a layer name or a mapping with one layer name")
    assert got in issue.message


def test_params_must_be_a_mapping():
    issue = single_issue([{"dropout": 0.5}])
    assert issue.path == ("model", "layers", 0, "dropout")
    assert "got 0.5" in issue.message


def test_cross_param_rules():
    conv = single_issue([{"conv2d": {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": "same"}}])
    pool = single_issue([{"maxpool2d": {"kernel_size": 2, "padding": 2}}])
    assert conv.path == ("model", "layers", 0, "conv2d", "padding")
    assert pool.path == ("model", "layers", 0, "maxpool2d", "padding")


def test_auto_out_features_only_on_the_last_linear():
    entries = ["flatten", {"linear": {"out_features": "auto"}}, {"linear": {"out_features": "auto"}}]
    issue = single_issue(entries)
    assert issue.path == ("model", "layers", 1, "linear", "out_features")
    assert "only on the last linear" in issue.message


def test_every_problem_is_reported_at_once_in_order():
    entries = [
        {"conv2d": {"out_channels": 0, "kernal_size": 3}},
        "relu",
        {"maxpol2d": {"kernel_size": 2}},
        {"linear": {"out_features": "auto"}},
        {"dropout": {"p": 2}},
        {"linear": {"out_features": 10}},
    ]
    paths = [issue.path for issue in issues_of(entries)]
    assert paths == [
        LAYERS_PATH + (0, "conv2d", "kernal_size"),
        LAYERS_PATH + (0, "conv2d", "out_channels"),
        LAYERS_PATH + (0, "conv2d", "kernel_size"),
        LAYERS_PATH + (2,),
        LAYERS_PATH + (3, "linear", "out_features"),
        LAYERS_PATH + (4, "dropout", "p"),
    ]


def test_custom_path_prefix():
    with pytest.raises(ConfigError) as caught:
        parse_layer("relux", ("layers", 7))
    assert caught.value.issues[0].path == ("layers", 7)


def test_config_stores_layers_as_resolved_plain_entries():
    config = validate_config({"model": {"layers": ["flatten", {"linear": {"out_features": "auto"}}]}})
    assert config.model.layers == ["flatten", {"linear": {"in_features": "auto", "out_features": "auto", "bias": True,
                                                             "zero_init": False}}]
    with pytest.raises(ConfigError) as caught:
        validate_config({"model": {"layers": ["flaten"]}})
    assert caught.value.issues[0].path == ("model", "layers", 0)
