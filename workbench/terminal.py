"""The terminal's character set: a locale that is not UTF-8 gets every glyph drawn in ASCII.

Over SSH into a tmux whose client has no UTF-8 locale (LANG unset), every box line, braille
chart and half-block pixel turns into `_` or `qqqq`. `utf8_locale` tells that case from the
environment, and `ascii_driver` wraps the app's driver so everything it writes is translated,
one cell for one cell (the layout is unchanged): borders to -|+, braille to '.:, blocks to
shades, any other glyph to ?.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from textual.driver import Driver

LOCALE_VARIABLES = ("LC_ALL", "LC_CTYPE", "LANG")  # the first one set decides, as in C's setlocale
COERCED = "C.UTF-8"  # what Python sets LC_CTYPE to when it starts in the C locale (PEP 538)
FIX = "LANG=C.UTF-8"
BRAILLE, BRAILLE_END = 0x2800, 0x28FF
UPPER_DOTS, LOWER_DOTS = 0x1B, 0xE4  # braille dots 1,2,4,5 (the upper two rows) and 3,6,7,8

GLYPHS = {
    **dict.fromkeys("─━═╌╍┄┅┈┉╴╶╸╺▔⎯", "-"),
    **dict.fromkeys("│┃║╎╏┆┇┊┋▏▕▎▍▌▐▊▋▉", "|"),
    **dict.fromkeys("┌┐└┘╭╮╰╯┏┓┗┛╔╗╚╝├┤┬┴┼┣┫┳┻╋╠╣╦╩╬┠┨┯┷┿", "+"),
    "▁": "_", "▂": ".", "▃": "-", "▄": "=", "▅": "+", "▆": "*", "▇": "%", "█": "#",
    "▀": '"', "░": ".", "▒": ":", "▓": "%",
    "•": "*", "★": "*", "✓": "v", "✗": "x", "×": "x", "·": ".", "…": ".", "→": ">", "←": "<", "↑": "^",
    "↓": "v", "▲": "^", "▼": "v", "▶": ">", "◀": "<", "≥": ">", "≤": "<", "±": "~", "°": "o",
}


class _AsciiTable(dict):
    """A str.translate table that works out (and keeps) each character's ASCII stand-in when first met."""

    def __missing__(self, code: int) -> str | int:
        char = chr(code)
        if code < 0x80:
            value: str | int = code
        elif char in GLYPHS:
            value = GLYPHS[char]
        elif BRAILLE < code <= BRAILLE_END:
            dots = code - BRAILLE
            value = ":" if dots & UPPER_DOTS and dots & LOWER_DOTS else "'" if dots & UPPER_DOTS else "."
        elif code == BRAILLE:
            value = " "
        elif unicodedata.combining(char):
            value = ""
        else:  # a wide character takes two cells
            value = "??" if unicodedata.east_asian_width(char) in "WF" else "?"
        self[code] = value
        return value


ASCII = _AsciiTable()


def to_ascii(text: str) -> str:
    """`text` with every character outside ASCII replaced by one of the same width."""
    return text.translate(ASCII)


def utf8_locale(environ: Mapping[str, str]) -> bool:
    """Whether the locale the terminal was started in is UTF-8 (the first of LC_ALL, LC_CTYPE, LANG set).

    LC_CTYPE=C.UTF-8 without a UTF-8 LANG is Python's own coercion of the C locale (or as good as),
    which says nothing about the terminal, so it counts as not UTF-8.
    """
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            coerced = name == "LC_CTYPE" and value == COERCED and not _is_utf8(environ.get("LANG", ""))
            return _is_utf8(value) and not coerced
    return False


def _is_utf8(locale_name: str) -> bool:
    return "utf8" in locale_name.lower().replace("-", "")


def locale_warning(environ: Mapping[str, str]) -> str:
    """What to tell a person whose locale is not UTF-8, and how to fix it."""
    setting = next((f"{name}={environ[name]}" for name in LOCALE_VARIABLES
                    if environ.get(name) and (name, environ[name]) != ("LC_CTYPE", COERCED)), "LANG is unset")
    return (f"the terminal's locale is not UTF-8 ({setting}), so workbench draws in ASCII; "
            f"for lines, charts and images start it as {FIX} workbench (or export {FIX} in your shell profile)")


def ascii_driver(base: type[Driver]) -> type[Driver]:
    """`base` (the platform's driver) writing everything in ASCII."""

    class AsciiDriver(base):  # type: ignore[valid-type, misc]
        def write(self, data: str) -> None:
            super().write(to_ascii(data))

    return AsciiDriver
