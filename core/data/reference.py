"""The data-source table as Markdown: docs/config.md embeds this text, and a test keeps the two equal.

Regenerate after adding a source: `python -m core.data.reference --write docs/config.md`.
"""
from __future__ import annotations

import json

from pydantic.fields import FieldInfo

from core.data.sources import SOURCES
from core.recipe import reference
from core.recipe.reference import embed_between

BEGIN, END = "<!-- data sources: begin -->", "<!-- data sources: end -->"


def markdown() -> str:
    """Every source with its keys, defaults and help, then what each key means."""
    lines = [f"### `data.source` (default `{SOURCES.default}`)", "", "| source | what it reads | keys (default) |",
             "|---|---|---|"]
    for entry in SOURCES:
        keys = ", ".join(f"`{name}` ({_default(info)})" for name, info in entry.keys.model_fields.items())
        lines.append(f"| `{entry.name}` | {entry.help} | {keys} |")
    meanings: dict[tuple[str, str], list[str]] = {}  # (key, description) -> the sources it describes
    for entry in SOURCES:
        for name, info in entry.keys.model_fields.items():
            meanings.setdefault((name, info.description or ""), []).append(entry.name)
    lines += ["", "| key (sources) | meaning |", "|---|---|"]
    lines += [f"| `{name}` ({', '.join(names)}) | {text} |" for (name, text), names in meanings.items()]
    return "\n".join(lines) + "\n"


def _default(info: FieldInfo) -> str:
    return "required" if info.is_required() else json.dumps(info.default)


def embed(document: str) -> str:
    """`document` with the text between the markers replaced by the current table."""
    return embed_between(document, BEGIN, END, markdown())


if __name__ == "__main__":
    reference.main(__doc__, markdown, embed)
