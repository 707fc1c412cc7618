"""Config problems as clear messages: bytes that are not UTF-8, numbers torch cannot take, YAML's
booleans, --set arguments named as such, and schema and layer problems reported together."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config, parse_config
from core.errors import ConfigError
from tests.core.test_config import MINIMAL


def error_of(text: str, overrides: list[str] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, overrides, source="cfg.yaml")
    return caught.value


def test_a_file_that_is_not_utf8_names_the_byte_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.encode() + "# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    offset = len(MINIMAL.encode()) + 5
    [issue] = caught.value.issues
    assert f"byte 0xe9 at byte offset {offset}" in issue.message and issue.line == 6
    assert f"{path}:6" in str(caught.value) and "save the file as UTF-8" in str(caught.value)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_a_seed_torch_cannot_take_is_refused(seed: int) -> None:
    [issue] = error_of(f"seed: {seed}\n" + MINIMAL).issues
    assert issue.path == ("seed",) and "2**64 - 1" in issue.message and issue.line == 1


def test_the_largest_seeds_torch_takes_are_fine() -> None:
    assert parse_config(f"seed: {2**64 - 1}\n" + MINIMAL).seed == 2**64 - 1
    assert parse_config(f"seed: {-(2**63)}\n" + MINIMAL).seed == -(2**63)


def test_infinite_and_nan_numbers_are_refused_everywhere() -> None:
    text = MINIMAL.replace("- flatten", "- flatten\n    - dropout: {p: .nan}") + (
        "  budget: {max_activation_mb: .inf, max_parameters: .inf}\n"
        "train:\n  optimizer: {name: sgd, lr: inf}\n")
    issues = {issue.path: issue for issue in error_of(text).issues}
    assert set(issues) == {("model", "budget", "max_activation_mb"), ("model", "budget", "max_parameters"),
                           ("train", "optimizer", "lr"), ("model", "layers", 1, "dropout", "p")}
    assert "must be a finite number, not inf" in issues[("model", "budget", "max_activation_mb")].message
    assert "finite number" in issues[("train", "optimizer", "lr")].message  # the string 'inf' too
    assert "not nan" in issues[("model", "layers", 1, "dropout", "p")].message


@pytest.mark.parametrize(("written", "meant"), [("on", "on"), ("off", "off"), ("yes", "on"), ("'on'", "on")])
def test_cache_on_and_off_need_no_quotes(written: str, meant: str) -> None:
    assert parse_config(MINIMAL + f"data: {{cache: {written}}}\n").data.cache == meant
    assert parse_config(MINIMAL, [f"data.cache={written}"]).data.cache == meant


def test_a_bad_set_value_is_reported_at_its_argument_not_a_line_of_the_file() -> None:
    error = error_of(MINIMAL + "train:\n  epochs: 3\n", ["train.epochs=0", "train.optimizer.name=adamm"])
    issues = {issue.path: issue for issue in error.issues}
    epochs = issues[("train", "epochs")]
    assert (epochs.origin, epochs.line) == ("--set train.epochs=0", None)
    assert issues[("train", "optimizer", "name")].origin == "--set train.optimizer.name=adamm"
    text = str(error)
    assert "train.epochs (--set train.epochs=0): " in text and "cfg.yaml:7" not in text


def test_a_set_that_cannot_reach_its_key_names_the_argument() -> None:
    [issue] = error_of(MINIMAL, ["name.first=x"]).issues
    assert issue.origin == "--set name.first=x" and "the value above it is str 'tiny'" in issue.message


def test_schema_and_layer_problems_are_reported_together() -> None:
    text = MINIMAL.replace("- flatten", "- flaten") + "train:\n  epochs: 0\n"
    issues = error_of(text).issues
    assert [issue.path[:3] for issue in issues] == [("train", "epochs"), ("model", "layers", 0)]
    assert [issue.line for issue in issues] == [7, 4]
