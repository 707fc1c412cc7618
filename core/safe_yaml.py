"""YAML from outside (configs, stack files, a run's config.yaml, `--set` values, data files), within bounds.

PyYAML builds an anchored value once and shares it wherever an alias names it, so a "billion laughs"
document loads small, and then every walk over it (validation, dumping, finding lines) pays for each
expansion. So a document is composed first, measured as if every alias were expanded, and built only
within the bounds; a file is read only up to MAX_BYTES, so /dev/zero or an endless pipe ends too.
Every problem is a ConfigError naming the file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError, ConfigIssue

MAX_BYTES = 4 * 2**20  # a config is a few KB; a generated layer list far under this
MAX_NODES = 100_000  # values in the document with every alias expanded (a 150-block network is ~10,000)
MAX_DEPTH = 64  # mappings and lists inside each other



class InvalidYaml(ConfigError):
    """The text is not YAML at all (as opposed to YAML past the bounds)."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built with it
    """The safe loader, reading 1e-12 as a number as YAML 1.2 does (YAML 1.1 wants 1.0e-12, or it is a string)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The file's bytes; a ConfigError when it cannot be read or holds more than `limit` bytes."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError([ConfigIssue((), f"cannot read the file: {exc.strerror or exc}")], str(path)) from exc
    if len(data) > limit:
        raise ConfigError([ConfigIssue((), f"more than {limit // 2**20} MB: too large for a YAML file here",
                                       hint="give the config itself (a few KB), not a data or model file")],
                          str(path))
    return data


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The file as UTF-8 text, read within `limit` bytes; a ConfigError naming the file otherwise."""
    return decode(read_bounded(path, limit), str(path))


def decode(data: bytes, source: str | None = None) -> str:
    """UTF-8 text, or a ConfigError naming the first byte that is not UTF-8 (offset and line)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        issue = ConfigIssue((), f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
                                f"cannot be decoded ({exc.reason})",
                            hint="save the file as UTF-8 (in most editors: Save with Encoding > UTF-8)", line=line)
        raise ConfigError([issue], source) from None


def load(text: str, source: str | None = None) -> Any:
    """The document's plain data (None when empty), checked against the bounds before it is built."""
    node = compose(text, source)
    return None if node is None else build(node, source)


def compose(text: str, source: str | None = None) -> yaml.Node | None:
    """The document's nodes (with their lines), within MAX_NODES and MAX_DEPTH; None for an empty document."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _invalid(exc, source) from None
    except RecursionError:  # the pure-Python composer recurses per level of nesting
        raise _past_bounds(f"nested more than {MAX_DEPTH} levels deep", source) from None
    finally:
        loader.dispose()
    if node is not None:
        _check_bounds(node, source)
    return node


def build(node: yaml.Node, source: str | None = None) -> Any:
    """Plain data from a composed (and so checked) document; a tag the safe loader does not know is refused."""
    try:
        return _Loader("").construct_document(node)
    except yaml.YAMLError as exc:
        raise _invalid(exc, source) from None


def _check_bounds(root: yaml.Node, source: str | None) -> None:
    """Count the expanded document without expanding it: each shared node is measured once (no recursion)."""
    measured: dict[int, tuple[int, int]] = {}  # id(node): (values in it expanded, its depth)
    open_nodes: set[int] = set()  # the nodes on the way down to the one being measured
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_measured = stack.pop()
        children = _children(node)
        if children_measured:
            count = 1 + sum(measured[id(child)][0] for child in children)
            depth = 1 + max((measured[id(child)][1] for child in children), default=0)
            if count > MAX_NODES:
                raise _past_bounds(f"more than {MAX_NODES:,} values once its aliases (*name) are expanded", source)
            if depth > MAX_DEPTH:
                raise _past_bounds(f"nested more than {MAX_DEPTH} levels deep", source)
            measured[id(node)] = (count, depth)
            open_nodes.discard(id(node))
            continue
        if id(node) in measured:
            continue
        if id(node) in open_nodes:
            raise _past_bounds("an alias (*name) inside the value it names: it never ends", source)
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in measured)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _invalid(exc: yaml.YAMLError, source: str | None) -> InvalidYaml:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return InvalidYaml([ConfigIssue((), f"not valid YAML: {problem}", line=mark.line + 1 if mark else None)], source)


def _past_bounds(what: str, source: str | None) -> ConfigError:
    return ConfigError([ConfigIssue((), f"the YAML is {what}; not read",
                                    hint="write the values out plainly; a config needs no deep nesting or aliases")],
                       source)
