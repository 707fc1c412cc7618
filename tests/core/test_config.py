"""Config loading: defaults, overrides, and errors that name the key, line and fix."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.config import load_config, parse_config, save_config
from core.errors import ConfigError

MINIMAL = """\
name: tiny
model:
  layers:
    - flatten
    - linear: {out_features: auto}
"""


def issues_of(text: str, overrides: list[str] = ()) -> list:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, overrides, source="cfg.yaml")
    return caught.value.issues


def test_defaults_are_filled_in() -> None:
    config = parse_config(MINIMAL)
    assert config.data.source == "shapes"
    assert config.data.path == "data/shapes"
    assert config.data.image_size == (32, 32)
    assert config.train.optimizer.name == "sgd"
    assert config.model.layers[1] == {"linear": {"in_features": "auto", "out_features": "auto", "bias": True,
                                                 "zero_init": False}}


def test_typo_key_names_path_line_and_suggestion() -> None:
    text = MINIMAL + "train:\n  epoch: 3\n"
    [issue] = issues_of(text)
    assert issue.path == ("train", "epoch")
    assert issue.line == 7
    assert "unknown key 'epoch'" in issue.message
    assert issue.hint == "did you mean 'epochs'?"


def test_wrong_type_and_out_of_range_are_all_reported() -> None:
    text = MINIMAL + "data:\n  batch_size: -5\n  val_split: lots\ntrain:\n  optimizer: {name: sgd, momentum: 1.5}\n"
    issues = {issue.path: issue for issue in issues_of(text)}
    assert set(issues) == {("data", "batch_size"), ("data", "val_split"), ("train", "optimizer", "momentum")}
    assert "between 1 and 65536, or auto" in issues[("data", "batch_size")].message
    assert "-5" in issues[("data", "batch_size")].message
    assert "'lots'" in issues[("data", "val_split")].message
    assert issues[("data", "batch_size")].line == 7


def test_error_message_reads_well(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL + "train:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"invalid config {path}" in message
    assert f"train.epoch ({path}:7): unknown key 'epoch'" in message
    assert "did you mean 'epochs'?" in message


def test_yaml_one_point_one_scientific_notation_is_a_float() -> None:
    config = parse_config(MINIMAL + "train:\n  optimizer: {name: adam, lr: 1e-3}\n")
    assert config.train.optimizer.lr == pytest.approx(0.001)


def test_image_size_accepts_one_number() -> None:
    assert parse_config(MINIMAL + "data: {image_size: 28}\n").data.image_size == (28, 28)


def test_folder_source_needs_a_path() -> None:
    [issue] = issues_of(MINIMAL + "data: {source: folder}\n")
    assert issue.path == ("data",)
    assert "data.path is required" in issue.message


def test_momentum_with_adam_is_rejected() -> None:
    [issue] = issues_of(MINIMAL + "train:\n  optimizer: {name: adam, momentum: 0.9}\n")
    assert issue.message == "adam takes no key 'momentum'" and "betas" in issue.hint


def test_bad_layer_is_reported_with_its_line() -> None:
    text = MINIMAL.replace("- flatten", "- flaten")
    [issue] = issues_of(text)
    assert issue.path[:3] == ("model", "layers", 0)
    assert issue.line == 4
    assert "flatten" in (issue.hint or "")


def test_overrides_set_values_as_yaml() -> None:
    config = parse_config(MINIMAL, ["train.epochs=3", "data.image_size=[16, 24]", "train.optimizer.lr=1e-2"])
    assert config.train.epochs == 3
    assert config.data.image_size == (16, 24)
    assert config.train.optimizer.lr == pytest.approx(0.01)


def test_override_of_unknown_key_is_an_error() -> None:
    [issue] = issues_of(MINIMAL, ["train.epoch=3"])
    assert issue.path == ("train", "epoch") and issue.hint == "did you mean 'epochs'?"


def test_override_needs_key_equals_value() -> None:
    [issue] = issues_of(MINIMAL, ["train.epochs"])
    assert "not KEY=VALUE" in issue.message


def test_not_yaml_names_the_line() -> None:
    [issue] = issues_of("name: x\nmodel: [unclosed\n")
    assert issue.line is not None and "not valid YAML" in issue.message


def test_unsafe_yaml_tags_are_refused() -> None:
    [issue] = issues_of("name: !!python/object/apply:os.system ['echo hi']\n" + MINIMAL.split("\n", 1)[1])
    assert "not valid YAML" in issue.message


def test_saved_config_round_trips(tmp_path: Path) -> None:
    config = parse_config(MINIMAL, ["train.epochs=2"])
    path = tmp_path / "resolved.yaml"
    save_config(config, path)
    assert yaml.safe_load(path.read_text())["train"]["epochs"] == 2
    assert load_config(path) == config


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="(?s)nope.yaml.*cannot read the file"):
        load_config(tmp_path / "nope.yaml")
