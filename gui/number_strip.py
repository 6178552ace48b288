"""The viewer's number mode strip: each digit of the number read so far, left to right, with the
28x28 image the network saw, its answer and its ten probabilities. Click a digit to select it (the
least sure one is selected by default); the digit keys then save the selected digit as a correction."""
from __future__ import annotations

import tkinter as tk
from tkinter import ttk

import numpy as np
from PIL import Image, ImageTk

MAX_SHOWN = 8       # digits shown (a longer number still reads whole in the title)
TILE = 56           # the 28x28 image shown twice as large
BARS_H = 40


class NumberStrip(ttk.Frame):
    """`show(read)` (a nnmodel.images.numbers.NumberRead) updates the strip; `selected` is the index of the
    selected digit (None when there is none)."""

    def __init__(self, parent, on_select=None):
        super().__init__(parent, padding=(0, 6, 0, 0))
        self.on_select = on_select
        ttk.Label(self, text="The digits read, left to right (click one, then press its right digit to save a "
                             "correction):").grid(row=0, column=0, columnspan=MAX_SHOWN, sticky="w")
        self.cells = []
        for k in range(MAX_SHOWN):
            cell = tk.Frame(self, bd=2, relief="flat", highlightthickness=2, highlightbackground="white")
            cell.grid(row=1, column=k, padx=2, pady=2)
            image = tk.Label(cell, bd=0, bg="black")
            image.pack()
            text = ttk.Label(cell, text="", anchor="center", width=8)
            text.pack()
            bars = tk.Canvas(cell, width=TILE, height=BARS_H, highlightthickness=0, bg="white")
            bars.pack()
            for widget in (cell, image, text, bars):
                widget.bind("<Button-1>", lambda _e, k=k: self.select(k))
            self.cells.append((cell, image, text, bars))
        self.read = None
        self.selected: int | None = None
        self._photos: list = []

    def show(self, read) -> None:
        self.read = read
        self._photos = []
        digits = read.digits if read is not None else []
        for k, (cell, image, text, bars) in enumerate(self.cells):
            bars.delete("all")
            if k >= len(digits):
                cell.grid_remove()
                continue
            cell.grid()
            d = digits[k]
            photo = ImageTk.PhotoImage(Image.fromarray(np.round(d.pixels * 255).astype(np.uint8), "L").resize(
                (TILE, TILE), Image.Resampling.NEAREST))
            self._photos.append(photo)
            image.configure(image=photo)
            text.configure(text=f"{d.digit} ({d.confidence:.0%})")
            width = TILE / 10
            for v, p in enumerate(d.proba):
                height = max(1.0, (BARS_H - 2) * float(p))
                bars.create_rectangle(v * width, BARS_H - height, (v + 1) * width - 1, BARS_H,
                                      fill="#d0504a" if v == d.digit else "#4a7bd0", outline="")
        least_sure = min(range(len(digits)), key=lambda k: digits[k].confidence) if digits else None
        self.select(least_sure if self.selected is None or self.selected >= len(digits) else self.selected)

    def select(self, k: int | None) -> None:
        shown = len(self.read.digits) if self.read is not None else 0
        self.selected = k if k is not None and k < min(shown, MAX_SHOWN) else None
        for i, (cell, *_rest) in enumerate(self.cells):
            cell.configure(highlightbackground="#d0504a" if i == self.selected else "white")
        if self.on_select is not None and self.selected is not None:
            self.on_select(self.selected)

    def selected_pixels(self):
        """The selected digit's 28x28 image, or None."""
        return None if self.selected is None else self.read.digits[self.selected].pixels

    def clear(self) -> None:
        self.read, self.selected = None, None
        self.show(None)
