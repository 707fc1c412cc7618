"""The app's screen as plain text, one string per terminal row: for checking what fits at 80x24."""
from __future__ import annotations

import io

from rich.console import Console


def screen_lines(app) -> list[str]:
    """What the terminal shows now, row by row (the same render as app.export_screenshot)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False,
                      safe_box=False, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


async def assert_footer_fits(pilot) -> None:
    """Every action the footer shows is there whole (one of its keys and its description), palette key last."""
    await pilot.pause()  # the footer redraws after the bindings change
    app = pilot.app
    footer = screen_lines(app)[-1]
    shown: dict[tuple[str, str], list[str]] = {}
    for active in app.screen.active_bindings.values():
        binding = active.binding
        if binding.show and binding.description:
            shown.setdefault((binding.action, binding.description), []).append(app.get_key_display(binding))
    for (_, description), keys in shown.items():
        assert any(f"{key} {description}" in footer for key in keys), f"{description!r} missing in {footer!r}"
    assert footer.rstrip().endswith("palette"), footer


def widget_rows(app, widget) -> list[str]:
    """The rows the terminal shows inside `widget`'s border and padding, each cut to them."""
    region = widget.content_region
    rows = screen_lines(app)[region.y:region.bottom]
    return [row[region.x:region.right] for row in rows]


def widget_text(app, widget) -> str:
    """What `widget` shows, its rows joined by single spaces: a wrapped sentence reads as one line."""
    return " ".join(" ".join(widget_rows(app, widget)).split())


def whole(text: str) -> str:
    """`text` with its runs of white space as single spaces, to look for in `widget_text`."""
    return " ".join(text.split())
