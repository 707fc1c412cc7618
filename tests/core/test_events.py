"""Events: each type registers itself, reads back from its JSON line, and has its one line of text."""
from __future__ import annotations

import json
import typing
from dataclasses import dataclass, fields
from enum import Enum
from types import UnionType
from typing import Any

import pytest

from core.runs.rundir import CheckpointKind, RunState
from core.train import events
from core.train.describe import describe
from core.train.events import EVENT_TYPES, EpochEnded, Event, RunFailed, RunFinished, event_from_dict


def example_value(hint: Any) -> Any:
    """A plausible value of a field's type: enough for every event to be built and described."""
    if isinstance(hint, UnionType):
        hint = typing.get_args(hint)[0]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return next(iter(hint))
    if typing.get_origin(hint) is list:
        return ["a", "b"]
    if typing.get_origin(hint) is dict:
        return {}
    return {int: 3, float: 0.5, str: "x", bool: True}[hint]


def example(cls: type[Event]) -> Event:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: example_value(hints[f.name]) for f in fields(cls) if f.name != "time"})


def test_a_new_event_type_registers_itself_and_reads_back(monkeypatch) -> None:
    monkeypatch.setattr(events, "EVENT_TYPES", dict(EVENT_TYPES))  # the type declared here goes with the test

    @dataclass(frozen=True)
    class ModelPruned(Event):
        layers: int
        kept: float

    assert events.EVENT_TYPES["model_pruned"] is ModelPruned
    event = ModelPruned(layers=3, kept=0.25)
    line = json.dumps(event.to_dict())
    assert json.loads(line)["type"] == "model_pruned"
    assert events.event_from_dict(json.loads(line)) == event


def test_every_event_type_reads_back_from_its_json_line() -> None:
    for cls in EVENT_TYPES.values():
        event = example(cls)
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event, cls


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_describe_has_a_case_for_every_registered_type(name: str) -> None:
    text = describe(example(EVENT_TYPES[name]))
    assert text and "\n" not in text  # one line: train.log stamps each line with its time


def test_describe_refuses_an_event_it_has_no_words_for(monkeypatch) -> None:
    monkeypatch.setattr(events, "EVENT_TYPES", dict(EVENT_TYPES))

    @dataclass(frozen=True)
    class Unheard(Event):
        pass

    with pytest.raises(TypeError, match="no description for Unheard"):
        describe(Unheard())


def test_the_one_wording_of_an_epoch_and_an_ending() -> None:
    epoch = EpochEnded(epoch=2, epochs=10, train_loss=0.48123, val_loss=0.512, val_accuracy=0.8125, lr=0.001,
                       seconds=3.21, samples_per_second=3456.7)
    assert describe(epoch) == ("epoch 2/10  train_loss 0.4812  val_loss 0.5120  val_accuracy 81.25%  lr 0.001  "
                               "3.2s  3,457 samples/s")
    finished = RunFinished(status=RunState.FINISHED, epochs_done=4, best_epoch=3, best_val_accuracy=0.9, seconds=12.0,
                           run_dir="r", reason="early stopping: val_loss did not improve for 2 epochs")
    assert describe(finished) == ("run finished after 4 epoch(s) in 12.0s, best val_accuracy 90.00% at epoch 3; "
                                  "early stopping: val_loss did not improve for 2 epochs")


def test_a_resumed_run_pairs_its_time_with_its_own_epochs() -> None:
    def ending(first_epoch: int, epochs_done: int) -> str:
        return describe(RunFinished(status=RunState.FINISHED, epochs_done=epochs_done, best_epoch=None,
                                    best_val_accuracy=None, seconds=5.8, run_dir="r", first_epoch=first_epoch))

    assert ending(12, 13) == "run finished after epochs 12-13 in 5.8s (13 in all)"
    assert ending(13, 13) == "run finished after epoch 13 in 5.8s (13 in all)"
    assert ending(12, 11) == "run finished after 11 epoch(s), none of them in the 5.8s since resuming"


def test_a_failure_names_its_state_and_kind() -> None:
    crash = RunFailed(error="RuntimeError: boom", kind="crash", run_dir="r")
    aborted = RunFailed(error="stopped at once", kind=RunState.ABORTED, run_dir="r")
    assert (crash.state, aborted.state) == (RunState.FAILED, RunState.ABORTED)
    assert describe(crash) == "run failed (crash): RuntimeError: boom"
    assert describe(aborted) == "run aborted: stopped at once"
    assert event_from_dict(json.loads(json.dumps(aborted.to_dict()))).state == RunState.ABORTED


def test_checkpoint_kinds_read_back_as_their_names() -> None:
    event = events.CheckpointSaved(path="p", kind=CheckpointKind.BEST, epoch=1)
    assert event_from_dict(json.loads(json.dumps(event.to_dict()))).kind == CheckpointKind.BEST
