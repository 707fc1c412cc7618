"""core.prepare.workspace: the rules of editing a config (sources, recipe entries), saving it short, examples kept safe."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_config, parse_config
from core.prepare.workspace import (DEMO_CONFIG, EXAMPLES_DIR, SaveRefused, Workspace, config_text, is_example,
                                    minimal_plain, switch_entry, update_text)

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_a_saved_example_is_the_same_config_and_no_longer_than_the_file(example: Path) -> None:
    config = load_config(example)
    text = config_text(config, example.read_text())
    assert parse_config(text) == config
    assert len(text.splitlines()) <= len(example.read_text().splitlines())


def test_only_the_keys_away_from_the_defaults_are_written() -> None:
    config = parse_config("""
name: short
model: {layers: [flatten, {linear: {out_features: auto}}]}
train: {epochs: 3, optimizer: {name: adam, lr: 0.01}, loss: {label_smoothing: 0.1}}
data: {source: shapes, batch_size: 32}
""")
    plain = minimal_plain(config)
    assert plain == {"name": "short", "data": {"batch_size": 32},
                     "model": {"layers": ["flatten", {"linear": {"out_features": "auto"}}]},
                     "train": {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.01},
                               "loss": {"label_smoothing": 0.1}}}
    assert parse_config(config_text(config)) == config


def test_comments_follow_their_keys() -> None:
    previous = ("# top of the file\n\nname: a  # the run\n# the data\ndata:\n  source: shapes\n"
                "  batch_size: 8   # small\ntrain:\n  epochs: 2\n")
    text = "name: a\ndata:\n  batch_size: 16\ntrain:\n  epochs: 4\n  seed_extra: 1\n"
    assert update_text(previous, text) == ("# top of the file\n\nname: a  # the run\n# the data\ndata:\n"
                                            "  batch_size: 16  # small\ntrain:\n  epochs: 4\n  seed_extra: 1\n")



def test_quoting_flow_style_and_key_order_of_the_file_are_kept() -> None:
    previous = ("train:\n  epochs: 2\n  optimizer: {lr: 0.01, name: adam}\nname: 'mine'\nmodel:\n  layers:\n"
                "    - flatten  # in\n    - {linear: {out_features: auto}}\n")
    config = parse_config(previous).model_copy(update={"seed": 7})
    assert config_text(config, previous) == ("train:\n  epochs: 2\n  optimizer: {lr: 0.01, name: adam}\n"
                                             "name: 'mine'\nseed: 7\nmodel:\n  layers:\n    - flatten  # in\n"
                                             "    - {linear: {out_features: auto}}\n")


def test_a_python_tag_in_the_file_saved_over_is_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    previous = (f"name: a  # kept\nhook: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path"
                f" ['{marker}']]\nmodel: {{layers: [flatten, {{linear: {{out_features: auto}}}}]}}\n")
    config = parse_config("name: a\nmodel: {layers: [flatten, {linear: {out_features: auto}}]}\n")
    kept = config_text(config, previous)
    assert kept == "name: a  # kept\nmodel: {layers: [flatten, {linear: {out_features: auto}}]}\n" and not marker.exists()
    tagged_section = previous.replace("model: {", "model: !!python/object:collections.OrderedDict {")
    assert parse_config(config_text(config, tagged_section)) == config  # written afresh, the tag gone
    assert not marker.exists()

def test_examples_are_never_overwritten(tmp_path: Path) -> None:
    workspace = Workspace.open(DEMO_CONFIG)
    assert is_example(DEMO_CONFIG) and workspace.needs_new_path and not is_example(tmp_path / "x.yaml")
    before = DEMO_CONFIG.read_bytes()
    with pytest.raises(SaveRefused, match="example"):
        workspace.save()
    assert DEMO_CONFIG.read_bytes() == before
    assert workspace.suggest_path(tmp_path) == tmp_path / "shapes-demo.yaml"
    (tmp_path / "shapes-demo.yaml").write_text("")
    assert workspace.suggest_path(tmp_path) == tmp_path / "shapes-demo-2.yaml"
    saved = workspace.save(tmp_path / "mine.yaml")
    assert (saved, workspace.path, workspace.needs_new_path, workspace.dirty) == (tmp_path / "mine.yaml", saved,
                                                                                 False, False)


def test_a_new_data_source_names_the_run_until_the_person_does(tmp_path: Path) -> None:
    workspace = Workspace.open(DEMO_CONFIG)
    assert workspace.use_source("folder", str(tmp_path / "ants bees")) == "ants-bees"
    assert workspace.config.data.path == str(tmp_path / "ants bees") and workspace.config.data.download is False
    assert workspace.use_source("cifar10") == "cifar10"
    assert workspace.use_source("shapes", "data/shapes") == "shapes-demo"  # the file's own data: its own name
    workspace.update("", name="mine")
    assert workspace.use_source("mnist") is None and workspace.config.name == "mine"


def test_switching_a_recipe_entry_keeps_the_parameters_both_take() -> None:
    assert switch_entry("optimizer", {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, "adam") == \
        {"name": "adam", "lr": 0.1, "weight_decay": 0.01}
    workspace = Workspace.open(DEMO_CONFIG)
    workspace.switch_entry("optimizer", "sgd")
    assert workspace.config.train.optimizer.name == "sgd" and workspace.config.train.optimizer.lr == 0.003
