"""The Train screen's settings form: epochs, batch size, learning rate, device, the recipe's choices, precision
and the time budget.

Every edit goes into the workspace's config at once; one that is not valid is shown under the form
and the config keeps its value. The choices come from the extension tables (core.config.TABLES),
the device picker from the machine's own devices once they are listed. While a run goes, the form
shows that run's config, disabled.
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from textual import getters, on, work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.config import TABLES, RunConfig, TrainConfig
from core.errors import ConfigError
from core.prepare.workspace import switch_entry
from screens.base import AppBase
from screens.param_dialogs import choice_options

DEVICES = ("auto", "cpu", "cuda", "mps")  # offered until the machine's own list is known
PRECISIONS: tuple[str, ...] = get_args(TrainConfig.model_fields["precision"].annotation)  # a Literal of names
CHOICES: dict[str, tuple[str, ...]] = {**{key: table.names for key, table in TABLES.items()}, "precision": PRECISIONS}
NUMBER_CHARACTERS = set("0123456789_+-.eE")  # what an Input of type integer or number can take
DURATION_CHARACTERS = set("0123456789. smhSMH")  # and a duration: 90s, 15m, 2h


class NumberInput(Input):
    """A number input that leaves letter keys other than the exponent's e to the screen's bindings.

    (Textual drops every binding of a key the focused widget may type, priority ones too.)
    """

    characters = NUMBER_CHARACTERS

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in self.characters


class DurationInput(NumberInput):
    """train.budget's input: a number and its unit; empty is no budget."""

    characters = DURATION_CHARACTERS


class SettingsPanel(Vertical):
    """The form of a run's main settings, written into the workspace's config as they are edited."""

    app = getters.app(AppBase)

    class Changed(Message):
        """The form changed the workspace's config."""

    def __init__(self) -> None:
        super().__init__()
        self.device_labels: dict[str, str] = {}  # train.device value -> what the picker shows
        self.device_values: tuple[str, ...] = DEVICES
        self.device_help = "cpu, a CUDA device by index, mps, or auto (the first GPU, else the CPU)"

    def compose(self) -> ComposeResult:
        values = setting_values(self.app.workspace.config)
        with Grid(id="settings"):
            yield _setting("epochs", _number("epochs", "integer", values))
            yield _setting("batch size", _number("batch-size", "integer", values))
            yield _setting("learning rate", _number("lr", "number", values))
            yield _setting("device", self._device_select(values["device"]))
            for key in TABLES:
                yield _setting(key, _choice(key, values))
            yield _setting("precision", _choice("precision", values))
            yield _setting("time budget", DurationInput(values["budget"], placeholder="none", id="budget", compact=True,
                                                        tooltip="train to a deadline, e.g. 15m, 2h, 90s: the schedule "
                                                                "ends then, epochs is the most it trains"))
        yield Static("", id="settings-error", classes="error")

    def on_mount(self) -> None:
        self.list_devices()

    def show(self, config: RunConfig, locked: bool) -> None:
        """Put `config`'s values into the inputs and choices; `locked` disables them (a run goes)."""
        for key, value in setting_values(config).items():
            self._show_setting(key, value)
        self.query_one("#settings", Grid).disabled = locked
        self._show_error("")

    def _show_setting(self, key: str, value: str) -> None:
        with self.prevent(Select.Changed):  # showing the config is not a change of it
            match self.query_one(f"#{key}"):
                case Select() as choice:
                    choice.set_options(self._options(key, value))
                    choice.tooltip = self._tooltip_for(key, value)
                    choice.value = value
                case Input() as number:
                    number.value = value

    def _options(self, key: str, value: str) -> list[tuple[str, Any]]:
        if key != "device":
            return choice_options(_choices(key, value))
        values = self.device_values if value in self.device_values else (*self.device_values, value)
        return [(self.device_labels.get(name, name), name) for name in values]

    def _tooltip_for(self, key: str, value: Any) -> str | None:
        return self.device_help if key == "device" else _help(key, value)

    def _device_select(self, value: str) -> Select:
        return Select(self._options("device", value), value=value, allow_blank=False, compact=True, id="device",
                      tooltip=self.device_help)

    @work(thread=True, exclusive=True, group="devices", exit_on_error=False)
    def list_devices(self) -> None:
        """The machine's devices for the picker (cpu and its threads, CUDA devices with name and free memory)."""
        from core.prepare.devices import list_devices

        devices = list_devices()
        self.app.call_from_thread(self._devices_listed, [(device.value, device.description) for device in devices])

    def _devices_listed(self, devices: list[tuple[str, str]]) -> None:
        self.device_values = ("auto", *(value for value, _ in devices))
        self.device_labels = dict(devices)
        first = next((value for value, _ in devices if value != "cpu"), "cpu")
        select = self.query_one("#device", Select)
        self._show_setting("device", str(select.value))
        self.device_help = f"auto is {first} here; " + "; ".join(self.device_labels.values())
        select.tooltip = self.device_help

    # edits into the config

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        if not self.app.followed.is_running:  # the fields show the running run's settings: nothing to apply
            self.apply(str(event.input.id), event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        key = str(event.select.id)
        if event.value != Select.NULL and not self.apply(key, event.value):
            self._show_setting(key, setting_values(self.app.workspace.config)[key])
        event.select.tooltip = self._tooltip_for(key, event.select.value)

    def apply(self, key: str, value: Any) -> bool:
        """Write one setting into the config; show why when it is not valid."""
        try:
            section, changes = _changes(self.app.workspace.config, key, value)
            current = self.app.workspace.config.to_plain()[section]
            if any(current[name] != new for name, new in changes.items()):
                self.app.workspace.update(section, **changes)
        except ConfigError as exc:
            return self._show_error("; ".join(issue.describe() for issue in exc.issues))
        except ValueError:
            return self._show_error(f"{key.replace('-', ' ')}: {value!r} is not a number")
        self.post_message(self.Changed())
        return self._show_error("")

    def apply_inputs(self) -> bool:
        """Apply every input as typed (an edit need not be confirmed with enter before starting)."""
        return all(self.apply(str(box.id), box.value) for box in self.query("#settings Input").results(Input))

    def fill_in_lr(self, lr: float) -> bool:
        """Put a learning rate into its input and the config, as if typed."""
        self.query_one("#lr", Input).value = f"{lr:g}"
        return self.apply("lr", lr)

    def _show_error(self, text: str) -> bool:
        error = self.query_one("#settings-error", Static)
        error.update(text)
        error.display = bool(text)
        return not text


def setting_values(config: RunConfig) -> dict[str, str]:
    """The value each setting widget (by id) shows for `config`."""
    train = config.train
    return {"epochs": str(train.epochs), "budget": train.budget or "", "batch-size": str(config.data.batch_size),
            "lr": f"{train.optimizer.lr:g}", "device": train.device,
            **{key: getattr(train, key).name for key in TABLES}, "precision": train.precision}


def _changes(config: RunConfig, key: str, value: Any) -> tuple[str, dict[str, Any]]:
    """The config section a setting is in, and its keys' new values (ValueError when a number is not one)."""
    train = config.to_plain()["train"]
    if key == "epochs":
        return "train", {"epochs": int(value)}
    if key == "budget":
        return "train", {"budget": str(value).strip() or None}
    if key == "batch-size":
        return "data", {"batch_size": int(value)}
    if key == "lr":
        return "train", {"optimizer": {**train["optimizer"], "lr": float(value)}}
    if key in TABLES:
        return "train", {key: switch_entry(key, train[key], value)}
    return "train", {key: value}


def _choices(key: str, value: str) -> tuple[str, ...]:
    """The offered choices of a setting, with the config's value even when it is not one of them."""
    return CHOICES[key] if value in CHOICES[key] else (*CHOICES[key], value)


def _help(key: str, value: Any) -> str | None:
    return TABLES[key][value].help if key in TABLES and value in TABLES[key].names else None


def _number(key: str, kind: Literal["integer", "number"], values: dict[str, str]) -> NumberInput:
    return NumberInput(values[key], type=kind, id=key, compact=True)


def _choice(key: str, values: dict[str, str]) -> Select:
    return Select(choice_options(_choices(key, values[key])), value=values[key], allow_blank=False, compact=True,
                  id=key, tooltip=_help(key, values[key]))


def _setting(label: str, control: Input | Select) -> Vertical:
    return Vertical(Label(label, classes="setting-label"), control, classes="setting")
