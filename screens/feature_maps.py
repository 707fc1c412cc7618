"""Inside the model: one image's feature maps, a layer at a time, as a grid of half-block tiles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static
from textual.worker import Worker, WorkerState

from core.errors import WorkbenchError
from core.use.features import LayerMaps, feature_maps
from core.use.inference import Classifier
from screens.base import WorkbenchScreen
from screens.widgets.tile_grid import TileGrid

MAX_CHANNELS = 16


class FeatureMapsScreen(WorkbenchScreen):
    """What each layer of the model makes of one image: its first channels as tiles (esc goes back)."""

    CSS_PATH = "feature_maps.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("right,l,n", "step(1)", "Next layer", key_display="→"),
        Binding("left,h,p", "step(-1)", "Previous layer", key_display="←"),
    ]

    def __init__(self, classifier: Classifier, image: Path, *, mode: str = "") -> None:
        super().__init__()
        self.MODE = mode
        self.classifier, self.image = classifier, image
        self.layer_maps: list[LayerMaps] = []
        self.current = 0

    def compose_body(self) -> ComposeResult:
        yield Label(f"feature maps of {self.image.name}", id="maps-title", classes="panel-title")
        yield TileGrid(id="tiles")
        yield Static("computing…", id="maps-status")

    def on_mount(self) -> None:
        self.compute()

    def action_back(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, group="features", exit_on_error=False)
    def compute(self) -> None:
        try:
            layers = feature_maps(self.classifier, self.image, max_channels=MAX_CHANNELS)
        except WorkbenchError as exc:  # an unreadable image
            self.app.call_from_thread(self._failed, str(exc))
        else:
            self.app.call_from_thread(self._computed, layers)

    def _computed(self, layers: list[LayerMaps]) -> None:
        self.layer_maps = layers
        if not layers:
            self.query_one("#maps-status", Static).update("no layer of this model gives images (feature maps) to show")
            return
        self.show_layer(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self._failed(f"could not compute the feature maps: {event.worker.error}")

    def _failed(self, message: str) -> None:
        status = self.query_one("#maps-status", Static)
        status.update(message)
        status.add_class("error")

    def action_step(self, offset: int) -> None:
        if self.layer_maps:
            self.show_layer((self.current + offset) % len(self.layer_maps))

    def show_layer(self, layer: int) -> None:
        self.current = layer
        maps = self.layer_maps[layer]
        tiles = np.asarray(maps.maps)
        self.query_one(TileGrid).set_tiles(list(tiles))
        shown, height, width = tiles.shape
        channels = f"{shown} of {maps.channels}" if maps.channels > shown else str(shown)
        self.query_one("#maps-title", Label).update(Text(
            f"{self.image.name}: layer {layer + 1}/{len(self.layer_maps)}, #{maps.index} {maps.name}"))
        self.query_one("#maps-status", Static).update(
            f"{channels} channels of {height}x{width}; ← → step through the layers, esc goes back")
