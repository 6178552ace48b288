"""The viewer's "look inside" panel: the pixels that pushed towards the answer (red) or away from it
(blue), over the 28x28 input the network sees, and the hidden units that moved the answer most, each
with the weights it looks for. Updated with every recognition (well under the 20 ms budget: the
explanation is one backward pass; unit pictures are made once per unit and reused)."""
from __future__ import annotations

import time
import tkinter as tk
from tkinter import ttk

from PIL import ImageTk

from nnmodel.explain import explain, overlay, weight_tile

MAP_SCALE = 4       # the pixel map is shown 112x112, as the preview
UNIT_SCALE = 2      # unit weight pictures 56x56


class LookInside(ttk.Frame):
    """The panel; `show(network, pixels)` updates it and returns the milliseconds it took."""

    def __init__(self, parent, top: int = 4):
        super().__init__(parent, padding=(0, 6, 0, 0))
        self.top = top
        ttk.Label(self, text="Look inside: pixels for (red) / against (blue) the answer").grid(
            row=0, column=0, columnspan=top, sticky="w")
        self.map = tk.Label(self, bd=1, relief="solid", bg="white")
        self.map.grid(row=1, column=0, columnspan=top, sticky="w", pady=(2, 6))
        ttk.Label(self, text="Hidden units that moved it most (weights they look for):").grid(
            row=2, column=0, columnspan=top, sticky="w")
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
        self._photos["map"] = ImageTk.PhotoImage(overlay(why.pixels, why.attribution, scale=MAP_SCALE))
        self.map.configure(image=self._photos["map"])
        weights = network.params_[0][0]
        for k, (image, text) in enumerate(zip(self.unit_images, self.unit_texts)):
            if k < len(why.top_units):
                unit, value = why.top_units[k]
                if unit not in self._tiles:
                    self._tiles[unit] = ImageTk.PhotoImage(weight_tile(weights[unit].reshape(28, 28), UNIT_SCALE))
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
