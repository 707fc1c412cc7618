"""The command palette (ctrl+p): every action of the current screen by name, the screens, help and quit."""
from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from waiting import wait_until

from screens.dialogs import AskText
from screens.model import ModelScreen

pytestmark = pytest.mark.timeout(60)


def described_actions(screen) -> set[str]:
    """The descriptions of the screen's own keys whose action is enabled right now (app actions aside)."""
    bindings = [b if isinstance(b, Binding) else Binding(*b) for b in type(screen).BINDINGS]
    return {b.description for b in bindings if b.description and not b.action.startswith("app.")
            and screen.check_action(b.action.split("(")[0], ()) is True}


async def test_palette_offers_every_action_of_each_screen(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode in enumerate(app.MODES, start=1):
            await pilot.press(str(key))
            await app.workers.wait_for_complete()
            await pilot.pause()
            titles = {command.title for command in app.get_system_commands(app.screen)}
            actions = described_actions(app.screen)
            assert actions and actions <= titles, mode
            assert {f"Go to {m.title()}" for m in app.MODES} | {"Help", "Quit", "Save config"} <= titles
            assert not {"Keys", "Screenshot", "Theme", "Maximize", "Minimize"} & titles  # Textual's own entries
            assert len(titles) == len(list(app.get_system_commands(app.screen)))  # each action once


async def test_an_action_without_a_footer_key_runs_from_the_palette(make_app, small_shapes_config) -> None:
    app = make_app(small_shapes_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"save stack")
        commands = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.highlighted is not None and "Save stack" in str(
            commands.get_option_at_index(commands.highlighted).prompt))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AskText) and app.screen.prompt == "Save the layer stack as"
