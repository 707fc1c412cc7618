"""The tables as Markdown: docs/config.md embeds this text, and a test keeps the two equal.

Regenerate after adding an entry: `python -m core.recipe.reference --write docs/config.md`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from core.recipe.losses import LOSSES
from core.recipe.optimizers import OPTIMIZERS
from core.recipe.schedules import SCHEDULES
from core.recipe.table import Table

BEGIN, END = "<!-- recipe tables: begin -->", "<!-- recipe tables: end -->"


def markdown() -> str:
    """Every optimizer, loss and schedule with its keys, defaults and help."""
    sections = [_table_markdown(key, table) for key, table in
                (("optimizer", OPTIMIZERS), ("loss", LOSSES), ("schedule", SCHEDULES))]
    return "\n\n".join(sections) + "\n"


def _table_markdown(key: str, table: Table) -> str:
    lines = [f"### `train.{key}` (default `{table.default}`)", "", "| name | what it is | keys (default) |",
             "|---|---|---|"]
    for entry in table:
        keys = ", ".join(f"`{name}` ({_default(info)})" for name, info in table.parameters(entry.name).items())
        lines.append(f"| `{entry.name}` | {entry.help} | {keys or '-'} |")
    lines += ["", "| key | meaning |", "|---|---|"]
    described: dict[str, str] = {}
    for entry in table:
        for name, info in table.parameters(entry.name).items():
            if info.description and name not in described:
                described[name] = info.description
    lines += [f"| `{name}` | {text} |" for name, text in described.items()]
    return "\n".join(lines)


def _default(info: FieldInfo) -> str:
    value: Any = info.default
    if value is PydanticUndefined:
        return "required"
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def embed(document: str) -> str:
    """`document` with the text between the markers replaced by the current tables."""
    return embed_between(document, BEGIN, END, markdown())


def embed_between(document: str, begin: str, end: str, text: str) -> str:
    """`document` with what stands between the `begin` and `end` markers replaced by `text`."""
    head, _, rest = document.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{text}{end}{tail}"


def main(description: str | None = __doc__, render: Callable[[], str] = markdown,
         update: Callable[[str], str] = embed) -> None:
    """Print the generated reference, or with --write DOC update it inside DOC in place."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--write", type=Path, metavar="DOC", help="update the reference inside DOC in place")
    args = parser.parse_args()
    if args.write:
        args.write.write_text(update(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
