"""Without a UTF-8 locale the app says how to fix it and draws in ASCII, cell for cell."""
from __future__ import annotations

import pytest
from textual.driver import Driver

from screens.widgets.braille import BrailleCanvas
from workbench.app import WorkbenchApp
from workbench.terminal import ascii_driver, locale_warning, to_ascii, utf8_locale
from waiting import wait_until


@pytest.mark.parametrize(("environ", "utf8"), [
    ({}, False),
    ({"LANG": "en_GB.UTF-8"}, True),
    ({"LANG": "C.utf8"}, True),
    ({"LANG": "C"}, False),
    ({"LC_CTYPE": "C.UTF-8"}, False),  # Python's coercion of an unset locale
    ({"LC_CTYPE": "C.UTF-8", "LANG": "C"}, False),
    ({"LC_CTYPE": "C.UTF-8", "LANG": "en_US.UTF-8"}, True),
    ({"LC_ALL": "POSIX", "LANG": "en_US.UTF-8"}, False),  # LC_ALL wins
    ({"LC_ALL": "de_DE.UTF-8@euro"}, True),
])
def test_utf8_locale(environ: dict[str, str], utf8: bool) -> None:
    assert utf8_locale(environ) is utf8


def test_the_warning_names_the_setting_and_the_fix() -> None:
    assert "(LANG is unset)" in locale_warning({}) and "LANG=C.UTF-8 workbench" in locale_warning({})
    assert "(LANG=C)" in locale_warning({"LANG": "C", "LC_CTYPE": "C.UTF-8"})
    assert "(LANG is unset)" in locale_warning({"LC_CTYPE": "C.UTF-8"})  # Python's own setting is not named


def test_every_glyph_becomes_one_ascii_cell() -> None:
    canvas = BrailleCanvas(3, 1)
    canvas.dot(0, 0, 0)  # upper
    canvas.dot(2, 3, 0)  # lower
    canvas.dot(4, 0, 0)
    canvas.dot(4, 3, 0)
    braille = "".join(canvas.char(0, column) for column in range(3))
    assert to_ascii(braille) == "'.:"
    assert to_ascii("╭─ classes ─╮│▀▄█•★…≥é") == "+- classes -+|\"=#**.>?"
    assert to_ascii("猫.png") == "??.png"  # a wide character keeps its two cells
    assert to_ascii("\x1b[1;31mok\x1b[0m") == "\x1b[1;31mok\x1b[0m"


async def test_the_driver_writes_ascii() -> None:
    written: list[str] = []

    class Recording(Driver):
        def write(self, data: str) -> None:
            written.append(data)

        def start_application_mode(self) -> None: ...

        def stop_application_mode(self) -> None: ...

        def disable_input(self) -> None: ...

    driver = ascii_driver(Recording)(app=None)  # type: ignore[arg-type]
    driver.write("│ loss ┤⣿")
    assert written == ["| loss +:"]


async def test_the_app_draws_in_ascii_and_says_how_to_fix_it(small_shapes_config, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LANG", raising=False)
    from core.prepare.workspace import Workspace

    app = WorkbenchApp(Workspace(small_shapes_config), tmp_path / "runs", ascii_only=True)
    assert issubclass(app.driver_class, Driver) and app.driver_class.__name__ == "AsciiDriver"
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: any("LANG=C.UTF-8" in str(toast.message) for toast in app._notifications),
                         deadline=30)  # app.notify is a message, handled in the app's own time
