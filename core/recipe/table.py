"""Extension tables: each entry is a name, its typed parameters, a factory and one line of help.

The config derives its allowed names and keys from a table, the engine looks names up in it,
docs/config.md lists it, and the Train screen builds its choices and fields from it. Adding an
optimizer, a loss or a schedule is one entry in one file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Generic, Iterable, Iterator, Literal, TypeVar, Union

from pydantic import Field, create_model

from core.schema import StrictModel


class Named(StrictModel):
    """Every entry's config starts with its name."""

    name: str


T = TypeVar("T")  # what an entry builds
P = TypeVar("P", bound=Named)  # the params every entry of a table shares


@dataclass(frozen=True)
class Entry(Generic[T, P]):
    name: str
    params: type[P]  # the keys this entry takes, with types, bounds and defaults
    build: Callable[..., T]
    help: str


class Table(Generic[T, P]):
    """The entries of one extension point, in the order the docs and screens show them."""

    def __init__(self, kind: str, default: str, entries: Iterable[Entry[T, P]]) -> None:
        self.kind, self.default = kind, default
        self._entries = {entry.name: entry for entry in entries}
        self._models = {name: create_model(f"{_camel(name)}{_camel(kind)}", __base__=entry.params,
                                           name=(_literal(name), name))
                        for name, entry in self._entries.items()}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __getitem__(self, name: str) -> Entry[T, P]:
        return self._entries[name]

    def __iter__(self) -> Iterator[Entry[T, P]]:
        return iter(self._entries.values())

    def model(self, name: str) -> type[P]:
        """The config model of one entry (its `name` fixed)."""
        return self._models[name]

    def config_type(self) -> Any:
        """The config key's type: the entries' models, told apart by `name`."""
        return Annotated[Union[tuple(self._models.values())], Field(discriminator="name")]

    def default_config(self) -> P:
        return self._models[self.default](name=self.default)

    def with_default_name(self, raw: Any) -> Any:
        """A bare name stands for {name: ...}; a section without a name gets the default one."""
        if isinstance(raw, str):
            return {"name": raw}
        if isinstance(raw, dict) and "name" not in raw:
            return {"name": self.default, **raw}
        return raw

    def parameters(self, name: str) -> dict[str, Any]:
        """The entry's keys other than name, with their pydantic FieldInfo."""
        return {key: info for key, info in self._models[name].model_fields.items() if key != "name"}


def _literal(value: str) -> Any:
    """The type `Literal[value]` for a value known only at run time (a type checker cannot follow it)."""
    return Literal[value]


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.split("_"))
