"""The viewer's "look inside" panel: the pixels that pushed towards the answer (red) or away from it
(blue), over the 28x28 input the model sees, and the units that moved the answer most, each with the
weights it looks for, as far as the model's family has those parts (it says so when it has not).
Updated with every recognition (well under the 20 ms budget: the explanation is one backward pass;
unit pictures are made once per unit and reused)."""
from __future__ import annotations

import time
import tkinter as tk
from tkinter import ttk

from PIL import ImageTk

from nnmodel.explain import explain
from nnmodel.reports.drawing import overlay, tile_scale, weight_tile

MAP_SCALE = 4       # the pixel map is shown 112x112, as the preview
UNIT_SIDE = 56      # unit weight pictures about 56x56


class LookInside(ttk.Frame):
    """The panel; `show(network, pixels)` updates it and returns the milliseconds it took."""

    def __init__(self, parent, top: int = 4):
        super().__init__(parent, padding=(0, 6, 0, 0))
        self.top = top
        ttk.Label(self, text="Look inside: pixels for (red) / against (blue) the answer").grid(
            row=0, column=0, columnspan=top, sticky="w")
        self.map = tk.Label(self, bd=1, relief="solid", bg="white")
        self.map.grid(row=1, column=0, columnspan=top, sticky="w", pady=(2, 6))
        self.units_title = ttk.Label(self, text="Units that moved it most (weights they look for):")
        self.units_title.grid(row=2, column=0, columnspan=top, sticky="w")
        self.unit_images = [tk.Label(self, bd=1, relief="solid", bg="white") for _ in range(top)]
        self.unit_texts = [ttk.Label(self, text="", width=9, anchor="center") for _ in range(top)]
        for k, (image, text) in enumerate(zip(self.unit_images, self.unit_texts)):
            image.grid(row=3, column=k, padx=2)
            text.grid(row=4, column=k)
        self._photos: dict = {}       # PhotoImages must stay referenced while shown
        self._tiles: dict = {}        # unit -> its weight picture, made once per network
        self._network = None

    def show(self, network, pixels) -> float:
        started = time.perf_counter()
        if network is not self._network:
            self._tiles.clear()
            self._network = network
        why = explain(network, pixels, top=self.top)
        if why.attribution is None:
            self.map.configure(image="", text="this model gives no pixel map", width=16, height=7)
        else:
            self._photos["map"] = ImageTk.PhotoImage(overlay(why.pixels, why.attribution, scale=MAP_SCALE))
            self.map.configure(image=self._photos["map"], text="", width=0, height=0)
        units = why.units
        self.units_title.configure(text=f"{units.name.capitalize()}s that moved it most (weights they look for):"
                                   if units is not None else "This model has no units to show.")
        for k, (image, text) in enumerate(zip(self.unit_images, self.unit_texts)):
            if k < len(why.top_units):
                unit, value = why.top_units[k]
                if unit not in self._tiles:
                    picture = units.pictures[unit]
                    self._tiles[unit] = ImageTk.PhotoImage(weight_tile(picture, tile_scale(picture.shape, UNIT_SIDE)))
                image.configure(image=self._tiles[unit])
                text.configure(text=f"#{unit} {value:+.2f}", foreground="#b00020" if value > 0 else "#0565b0")
            else:
                image.configure(image="")
                text.configure(text="")
        return (time.perf_counter() - started) * 1000

    def clear(self) -> None:
        self.map.configure(image="")
        for image, text in zip(self.unit_images, self.unit_texts):
            image.configure(image="")
            text.configure(text="")
