"""Config input built to hurt: alias bombs, endless files, deep nesting, odd digits and huge values end in a
short ConfigError naming the file, quickly and in little memory."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config, parse_config
from core.errors import ConfigError
from core.model.files import load_stack
from core.runs.history import read_run_config
from core.train.resume import load_resume
from tests.core.test_config import MINIMAL

# nine levels of nine aliases each: 9**9 (387 million) values once expanded, a few hundred bytes as text
BOMB = "[" + ", ".join(f"&l{level} [" + ", ".join([f"*l{level - 1}" if level else "lol"] * 9) + "]"
                       for level in range(9)) + "]"


def error_of(load) -> str:
    with pytest.raises(ConfigError) as caught:
        load()
    return str(caught.value)


def test_an_alias_bomb_in_a_config_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(MINIMAL + f"sweep: {BOMB}\n")
    message = error_of(lambda: load_config(path))
    assert str(path) in message and "aliases" in message


def test_an_alias_bomb_in_a_set_value_is_refused() -> None:
    assert "--set train.epochs=" in error_of(lambda: parse_config(MINIMAL, [f"train.epochs={BOMB}"]))


def test_an_alias_bomb_in_a_runs_config_yaml_is_reported_not_read(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(f"name: {BOMB}\n")
    plain, why = read_run_config(tmp_path)
    assert plain is None and "aliases" in why


def test_an_alias_bomb_in_a_runs_config_yaml_is_refused_on_resume(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(MINIMAL + f"sweep: {BOMB}\n")
    assert str(tmp_path / "config.yaml") in error_of(lambda: load_resume(tmp_path))


def test_an_alias_inside_its_own_value_is_refused() -> None:
    assert "never ends" in error_of(lambda: parse_config(MINIMAL + "sweep: &loop [*loop]\n", source="cfg.yaml"))


@pytest.mark.parametrize("depth", [80, 5000])
def test_deep_nesting_is_a_message(depth: int) -> None:
    message = error_of(lambda: parse_config(MINIMAL + "sweep: " + "[" * depth + "]" * depth + "\n", source="cfg.yaml"))
    assert "cfg.yaml" in message and "nest" in message


def test_an_endless_file_is_read_only_up_to_the_bound(tmp_path: Path) -> None:
    assert "too large" in error_of(lambda: load_config(Path("/dev/zero")))
    assert "/dev/zero" in error_of(lambda: load_stack(Path("/dev/zero")))


def test_a_unicode_digit_in_a_set_list_index_is_a_message() -> None:
    assert "model.layers.²=relu" in error_of(lambda: parse_config(MINIMAL, ["model.layers.²=relu"]))


def test_a_huge_value_is_quoted_clipped() -> None:
    message = error_of(lambda: parse_config(MINIMAL, ["train.device=" + "y" * 1_000_000]))
    assert len(message) < 1000 and "characters left out" in message
