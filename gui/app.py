"""The desktop viewer: draw a digit with the mouse and see it recognised live.

The canvas strokes are mirrored into a grey "ink" image (light on dark, canvas size) which goes through
the same `preprocess_image` as batch prediction; the window title always states the answer
(`digits - 7 (98.6%)`, or `digits` for a blank canvas). Keys: 0-9 save the drawing as a labelled
example, c/Escape clear, Ctrl+O open an image, [ and ] change the brush, i swaps the colours.
"""
from __future__ import annotations

import contextlib
import os
import time
import tkinter as tk
from pathlib import Path
from tkinter import filedialog, ttk

import numpy as np
from PIL import Image, ImageDraw, ImageTk

from gui.inside import LookInside
from gui.model import ViewerModel
from gui.number_strip import NumberStrip
from nnmodel.errors import DigitsError
from nnmodel.images.decode import as_grey
from nnmodel.images.numbers import read_number
from nnmodel.images.preprocess import Preprocessed, preprocess_image
from nnmodel.reject import read_digits
from nnmodel.store.feedback import save_feedback

CANVAS = 280                      # drawing area in pixels: 10x the MNIST 28x28
NUMBER_WIDTH = 3 * CANVAS         # the wider canvas of number mode (a few digits on one line)
PREVIEW_SCALE = 4                 # the 28x28 preview is shown at 112x112
BAR_WIDTH = 180
LIVE_DELAY_MS = 15                # recognise at most this often while drawing
NOT_A_DIGIT = "not a digit"       # what the window says of ink the model finds is no digit
WAKE_MS = 200                     # how soon Ctrl-C or SIGTERM closes the window
IMAGE_TYPES = [("Images", "*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm"), ("All files", "*")]


class DigitsViewer:
    """The window. `model` is None when none could be loaded; `model_help` then says what to do."""

    def __init__(self, root: tk.Tk, model: ViewerModel | None, feedback_dir: str | os.PathLike,
                 model_help: str = "", brush: int = 20, dark_on_light: bool = False, look_inside: bool = False,
                 number: bool = False, on_saved=None):
        self.root, self.model, self.feedback_dir = root, model, Path(feedback_dir)
        self.on_saved = on_saved                     # on_saved(path, digit) after each saved correction
        self.number_mode = tk.BooleanVar(value=number)
        self.ink = Image.new("L", self.canvas_size, 0)
        self.pen = ImageDraw.Draw(self.ink)
        self.number = None                           # number mode: what was read last (a NumberRead)
        self.last_point: tuple[int, int] | None = None
        self.pending: str | None = None
        self.current: Preprocessed | None = None     # what the network last saw
        self.prediction: tuple[int, float] | None = None
        self.last_latency_ms = 0.0                   # preprocessing + network, last recognition
        self.brush = tk.IntVar(value=brush)
        self.inside_on = tk.BooleanVar(value=look_inside)
        self.last_inside_ms = 0.0                    # the look-inside panel's update, last recognition
        self.dark_on_light = tk.BooleanVar(value=dark_on_light)
        self.showing_image = False        # an opened image is shown under the strokes
        self._background_photo = None
        self._preview_photo = None
        self._build(model_help)
        self._bind_keys()
        self.show_blank()

    @property
    def canvas_size(self) -> tuple[int, int]:
        return (NUMBER_WIDTH if self.number_mode.get() else CANVAS, CANVAS)

    # ---------------------------------------------------------------------------------- layout

    def _build(self, model_help: str) -> None:
        root = self.root
        root.title("digits")
        root.resizable(False, False)
        outer = ttk.Frame(root, padding=8)
        outer.grid()

        left = ttk.Frame(outer)
        left.grid(row=0, column=0, sticky="n")
        self.canvas = tk.Canvas(left, width=self.canvas_size[0], height=CANVAS, highlightthickness=1,
                                highlightbackground="#888", cursor="pencil")
        self.canvas.grid(row=0, column=0, columnspan=4)
        self.canvas.bind("<ButtonPress-1>", self.on_press)
        self.canvas.bind("<B1-Motion>", self.on_drag)
        self.canvas.bind("<ButtonRelease-1>", self.on_release)

        ttk.Label(left, text="Brush").grid(row=1, column=0, sticky="w", pady=(6, 0))
        ttk.Scale(left, from_=4, to=48, variable=self.brush, orient="horizontal", length=120,
                  command=lambda _v: self.brush.set(round(self.brush.get()))).grid(row=1, column=1, pady=(6, 0))
        ttk.Checkbutton(left, text="Dark on light", variable=self.dark_on_light,
                        command=self.apply_colours).grid(row=1, column=2, columnspan=2, sticky="w", pady=(6, 0))
        ttk.Button(left, text="Clear (c)", command=self.clear).grid(row=2, column=0, columnspan=2, sticky="we", pady=4)
        ttk.Button(left, text="Open image... (Ctrl+O)", command=self.ask_open).grid(
            row=2, column=2, columnspan=2, sticky="we", pady=4)
        ttk.Checkbutton(left, text="Number mode: several digits (n)", variable=self.number_mode,
                        command=self.apply_number_mode).grid(row=3, column=0, columnspan=4, sticky="w")
        self.strip = NumberStrip(left, on_select=self.select_digit)
        self.strip.grid(row=4, column=0, columnspan=4, sticky="w")
        if not self.number_mode.get():
            self.strip.grid_remove()

        right = ttk.Frame(outer, padding=(12, 0, 0, 0))
        right.grid(row=0, column=1, sticky="n")
        self.digit_label = ttk.Label(right, text="", font=("TkDefaultFont", 56, "bold"), width=2, anchor="center")
        self.digit_label.grid(row=0, column=0, sticky="w")
        self.confidence_label = ttk.Label(right, text="", font=("TkDefaultFont", 14), width=10)
        self.confidence_label.grid(row=0, column=1, sticky="w")
        self.bars = tk.Canvas(right, width=BAR_WIDTH + 80, height=10 * 20, highlightthickness=0)
        self.bars.grid(row=1, column=0, columnspan=2, sticky="w")
        self.bar_items = []
        for digit in range(10):
            y = digit * 20 + 10
            self.bars.create_text(8, y, text=str(digit), anchor="w")
            rect = self.bars.create_rectangle(22, y - 7, 22, y + 7, fill="#4a7bd0", outline="")
            text = self.bars.create_text(26, y, text="", anchor="w", fill="#333")
            self.bar_items.append((rect, text))
        ttk.Label(right, text="What the network sees (28x28):").grid(row=2, column=0, columnspan=2, sticky="w",
                                                                     pady=(8, 2))
        self.preview = tk.Label(right, bd=1, relief="solid", bg="black")
        self.preview.grid(row=3, column=0, columnspan=2, sticky="w")
        ttk.Checkbutton(right, text="Look inside (l)", variable=self.inside_on, command=self.apply_inside).grid(
            row=4, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.inside = LookInside(right)
        self.inside.grid(row=5, column=0, columnspan=2, sticky="w")
        self.inside.grid_remove()

        bottom = ttk.Frame(outer, padding=(0, 8, 0, 0))
        bottom.grid(row=1, column=0, columnspan=2, sticky="we")
        ttk.Label(bottom, text="Wrong? Save the right digit:").grid(row=0, column=0, columnspan=10, sticky="w")
        for digit in range(10):
            ttk.Button(bottom, text=str(digit), width=3,
                       command=lambda d=digit: self.save_correction(d)).grid(row=1, column=digit)
        self.model_label = ttk.Label(bottom, text=self.model.description if self.model else "",
                                     foreground="#555", wraplength=CANVAS + BAR_WIDTH + 100, justify="left")
        self.model_label.grid(row=2, column=0, columnspan=10, sticky="w", pady=(8, 0))
        self.help_label = ttk.Label(bottom, text=model_help, foreground="#a00", justify="left",
                                    font=("TkFixedFont", 10))
        if model_help:
            self.help_label.grid(row=3, column=0, columnspan=10, sticky="w", pady=(4, 0))
        self.status = ttk.Label(bottom, text="Draw a digit", foreground="#555")
        self.status.grid(row=4, column=0, columnspan=10, sticky="w", pady=(4, 0))
        self.apply_colours()

    def _bind_keys(self) -> None:
        root = self.root
        for key in ("<Key-c>", "<Key-C>", "<Escape>"):
            root.bind(key, lambda _e: self.clear())
        for digit in range(10):
            root.bind(f"<Key-{digit}>", lambda _e, d=digit: self.save_correction(d))
            root.bind(f"<KP_{digit}>", lambda _e, d=digit: self.save_correction(d))
        root.bind("<Control-o>", lambda _e: self.ask_open())
        root.bind("<Key-bracketleft>", lambda _e: self.brush.set(max(4, self.brush.get() - 2)))
        root.bind("<Key-bracketright>", lambda _e: self.brush.set(min(48, self.brush.get() + 2)))
        root.bind("<Key-i>", lambda _e: (self.dark_on_light.set(not self.dark_on_light.get()), self.apply_colours()))
        root.bind("<Key-l>", lambda _e: (self.inside_on.set(not self.inside_on.get()), self.apply_inside()))
        root.bind("<Key-n>", lambda _e: (self.number_mode.set(not self.number_mode.get()), self.apply_number_mode()))

    # ---------------------------------------------------------------------------------- drawing

    @property
    def ink_colour(self) -> str:
        return "black" if self.dark_on_light.get() else "white"

    @property
    def paper_colour(self) -> str:
        return "white" if self.dark_on_light.get() else "black"

    def apply_colours(self) -> None:
        """Show the ink in the chosen colours (the recognised ink image does not change)."""
        self.canvas.configure(bg=self.paper_colour)
        self.canvas.itemconfigure("line", fill=self.ink_colour)
        self.canvas.itemconfigure("dot", fill=self.ink_colour, outline=self.ink_colour)
        self._show_background()

    def on_press(self, event) -> None:
        self.last_point = (event.x, event.y)
        self._dot(event.x, event.y)
        self.schedule_recognition()

    def on_drag(self, event) -> None:
        if self.last_point is None:
            self.on_press(event)
            return
        x0, y0 = self.last_point
        width = self.brush.get()
        self.canvas.create_line(x0, y0, event.x, event.y, width=width, fill=self.ink_colour,
                                capstyle="round", joinstyle="round", tags=("stroke", "line"))
        self.pen.line((x0, y0, event.x, event.y), fill=255, width=width)
        self._dot(event.x, event.y, canvas=False)
        self.last_point = (event.x, event.y)
        self.schedule_recognition()

    def on_release(self, _event) -> None:
        self.last_point = None
        self.recognise()

    def _dot(self, x: int, y: int, canvas: bool = True) -> None:
        r = self.brush.get() / 2
        if canvas:
            self.canvas.create_oval(x - r, y - r, x + r, y + r, fill=self.ink_colour, outline=self.ink_colour,
                                    tags=("stroke", "dot"))
        self.pen.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def clear(self) -> None:
        self.canvas.delete("all")
        self.ink.paste(0, (0, 0, *self.ink.size))
        self.showing_image, self._background_photo = False, None
        self.last_point = None
        self.show_blank()
        self.status.configure(text="Draw a number, digits side by side" if self.number_mode.get() else "Draw a digit")

    def apply_number_mode(self) -> None:
        """Switch between one digit (a 280x280 canvas) and a number (a canvas three times as wide)."""
        self.ink = Image.new("L", self.canvas_size, 0)
        self.pen = ImageDraw.Draw(self.ink)
        self.canvas.configure(width=self.canvas_size[0])
        if self.number_mode.get():
            self.strip.grid()
        else:
            self.strip.grid_remove()
        self.clear()

    # ---------------------------------------------------------------------------------- recognition

    def schedule_recognition(self) -> None:
        """Recognise soon (live while drawing), coalescing the many motion events into one run."""
        if self.pending is None:
            self.pending = self.root.after(LIVE_DELAY_MS, self.recognise)

    def recognise(self) -> None:
        """Preprocess the ink image and show the network's answer (or nothing when blank)."""
        if self.pending is not None:
            self.root.after_cancel(self.pending)
            self.pending = None
        started = time.perf_counter()
        if self.number_mode.get() and self.model is not None:
            self.show_number(read_number(np.asarray(self.ink), self.model.network))
        else:
            self.show(preprocess_image(np.asarray(self.ink)))
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        if self.prediction is not None:
            self.status.configure(text=f"Recognised in {self.last_latency_ms:.1f} ms; wrong? press the right digit")

    def show_number(self, read) -> None:
        """Number mode: the whole number in the title and the big label, each digit in the strip, and
        the selected digit's probabilities in the bars."""
        self.number = read
        self.strip.show(read)
        if read.blank:
            self.show_blank()
            if read.marks:  # ink, but no mark on it is a digit
                self.root.title(f"digits - {NOT_A_DIGIT}")
                self.confidence_label.configure(text=f"{NOT_A_DIGIT}: no number here")
            return
        self.prediction = (read.text, read.confidence)
        self.root.title(f"digits - {read.text} ({read.confidence:.1%})")
        size = 56 if len(read.text) <= 2 else max(14, 112 // len(read.text))  # the whole number fits the label
        self.digit_label.configure(text=read.text, font=("TkDefaultFont", size, "bold"), width=max(2, len(read.text)))
        self.confidence_label.configure(text=f"{read.confidence:.1%} sure")
        self.select_digit(self.strip.selected if self.strip.selected is not None else 0)

    def show(self, pre: Preprocessed) -> None:
        self.current = pre
        self._show_preview(pre.pixels)
        if pre.blank:
            self.show_blank(keep_preview=True)
            return
        if self.model is None:
            self.root.title("digits - no model")
            return
        reading = read_digits(self.model.network, pre.pixels.reshape(1, 784))
        proba = reading.proba[0]
        digit = int(proba.argmax())
        if reading.rejected[0]:  # the bars still say which digit it would be most like
            likely = float(reading.not_a_digit[0])
            self.prediction = (NOT_A_DIGIT, likely)
            self.root.title(f"digits - {NOT_A_DIGIT} ({likely:.1%})")
            self.digit_label.configure(text="?", font=("TkDefaultFont", 56, "bold"), width=2)
            self.confidence_label.configure(text=f"{NOT_A_DIGIT} ({likely:.0%} likely)")
            self._show_bars(proba, -1)
            return
        self.prediction = (digit, float(proba[digit]))
        self.root.title(f"digits - {digit} ({proba[digit]:.1%})")
        self.digit_label.configure(text=str(digit))
        self.confidence_label.configure(text=f"{proba[digit]:.1%} sure")
        self._show_bars(proba, digit)

    def _show_bars(self, proba: np.ndarray, digit: int) -> None:
        """The ten probabilities as bars (the answer's in red), and the look-inside panel when open."""
        for d, (rect, text) in enumerate(self.bar_items):
            y = d * 20 + 10
            self.bars.coords(rect, 22, y - 7, 22 + max(1.0, BAR_WIDTH * float(proba[d])), y + 7)
            self.bars.itemconfigure(rect, fill="#d0504a" if d == digit else "#4a7bd0")
            self.bars.coords(text, 26 + BAR_WIDTH * float(proba[d]), y)
            self.bars.itemconfigure(text, text=f"{proba[d]:.1%}")
        if self.inside_on.get() and self.current is not None:
            self.last_inside_ms = self.inside.show(self.model.network, self.current.pixels)

    def apply_inside(self) -> None:
        """Show or hide the look-inside panel (and fill it for what is drawn now)."""
        if not self.inside_on.get():
            self.inside.grid_remove()
            return
        self.inside.grid()
        if self.prediction is not None and self.current is not None:
            self.last_inside_ms = self.inside.show(self.model.network, self.current.pixels)

    def show_blank(self, keep_preview: bool = False) -> None:
        """A blank canvas shows no prediction: title `digits`, empty digit, bars at zero."""
        self.prediction = None
        if not keep_preview:
            self.current = None
            self._show_preview(np.zeros((28, 28), np.float32))
        self.root.title("digits" if self.model is not None else "digits - no model")
        self.digit_label.configure(text="")
        self.confidence_label.configure(text="")
        if not keep_preview:
            self.number = None
            self.strip.clear()
        self.digit_label.configure(font=("TkDefaultFont", 56, "bold"), width=2)
        for d, (rect, text) in enumerate(self.bar_items):
            y = d * 20 + 10
            self.bars.coords(rect, 22, y - 7, 22, y + 7)
            self.bars.coords(text, 26, y)
            self.bars.itemconfigure(text, text="")
        self.inside.clear()

    def _show_preview(self, pixels: np.ndarray) -> None:
        image = Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode="L")
        image = image.resize((28 * PREVIEW_SCALE, 28 * PREVIEW_SCALE), Image.Resampling.NEAREST)
        self._preview_photo = ImageTk.PhotoImage(image)
        self.preview.configure(image=self._preview_photo)

    # ---------------------------------------------------------------------------------- files

    def ask_open(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Open an image of a digit", filetypes=IMAGE_TYPES)
        if path:
            self.open_image(path)

    def open_image(self, path: str | os.PathLike) -> None:
        """Recognise an image file exactly as batch prediction would; its MNIST form becomes the ink
        (in number mode: the number is read from the file as `digits predict --numbers` reads it, and
        the image, fitted to the canvas, becomes the ink)."""
        if self.number_mode.get():
            self.open_number(path)
            return
        try:
            pre = preprocess_image(str(path))
        except DigitsError as exc:
            self.status.configure(text=str(exc))
            return
        self.canvas.delete("all")
        big = Image.fromarray(np.round(pre.pixels * 255).astype(np.uint8), mode="L").resize(
            (CANVAS, CANVAS), Image.Resampling.BILINEAR)
        self.ink.paste(big)
        self.showing_image = True
        self._show_background()
        self.show(pre)
        self.status.configure(text=f"Opened {path}")

    def open_number(self, path: str | os.PathLike) -> None:
        if self.model is None:
            return
        try:
            read = read_number(str(path), self.model.network)
            grey = as_grey(str(path))
        except DigitsError as exc:
            self.status.configure(text=str(exc))
            return
        picture = Image.fromarray(grey if grey.dtype == np.uint8 else np.round(grey * 255).astype(np.uint8), "L")
        if np.median(grey) > (127 if grey.dtype == np.uint8 else 0.5):  # dark ink on light paper: ink is light here
            picture = Image.eval(picture, lambda v: 255 - v)
        picture.thumbnail(self.canvas_size, Image.Resampling.LANCZOS)
        self.canvas.delete("all")
        self.ink.paste(0, (0, 0, *self.ink.size))
        self.ink.paste(picture, ((self.ink.width - picture.width) // 2, (self.ink.height - picture.height) // 2))
        self.showing_image = True
        self._show_background()
        self.show_number(read)
        self.status.configure(text=f"Opened {path}")

    def _show_background(self) -> None:
        """Show the ink image under the strokes (used after opening a file), in the chosen colours."""
        if not self.showing_image:
            return
        ink = self.ink if not self.dark_on_light.get() else Image.eval(self.ink, lambda v: 255 - v)
        self._background_photo = ImageTk.PhotoImage(ink)
        self.canvas.delete("background")
        self.canvas.create_image(0, 0, image=self._background_photo, anchor="nw", tags="background")
        self.canvas.tag_lower("background")

    def save_correction(self, digit: int) -> Path | None:
        """Save what the network saw (28x28, MNIST form) as an example of `digit`, then clear; in
        number mode, the selected digit of the number (the drawing stays)."""
        if self.current is None or self.current.blank:
            self.status.configure(text="Draw a digit first, then press its key to save it")
            return None
        try:
            path, new = save_feedback(self.feedback_dir, self.current.pixels, digit)
        except OSError as exc:
            self.status.configure(text=f"Could not save to {self.feedback_dir}: {exc}")
            return None
        what = f"digit {self.strip.selected + 1} of the number" if self.number_mode.get() else "this drawing"
        if not self.number_mode.get():
            self.clear()
        if not new:
            self.status.configure(text=f"Already saved: {what} as {digit} ({path.name})")
            return path
        self.status.configure(text=f"Saved {what} as {digit}: {path}")
        if self.on_saved is not None:
            self.on_saved(path, digit)
        return path

    def select_digit(self, k: int) -> None:
        """Number mode: show digit k of the number in the preview and bars (the digit keys save it)."""
        if self.number is None or k >= len(self.number.digits):
            return
        chosen = self.number.digits[k]
        self.current = Preprocessed(chosen.pixels, False)
        self._show_preview(chosen.pixels)
        self._show_bars(chosen.proba, chosen.digit)


def run(model: ViewerModel | None, feedback_dir: str | os.PathLike, model_help: str = "",
        open_path: str | None = None, brush: int = 20, dark_on_light: bool = False, look_inside: bool = False,
        number: bool = False, on_saved=None) -> int:
    """Open the window and run until it is closed; `on_saved(path, digit)` is called after each
    correction saved with a digit key."""
    try:
        root = tk.Tk(className="digits")
    except tk.TclError as exc:
        raise DigitsError(f"cannot open a window ({exc}); is a display available (DISPLAY)?") from None
    viewer = DigitsViewer(root, model, feedback_dir, model_help, brush=brush, dark_on_light=dark_on_light,
                          look_inside=look_inside, number=number, on_saved=on_saved)
    viewer.apply_inside()
    if open_path:
        viewer.open_image(open_path)
    stopped = _stop_on_interrupt(root)
    try:
        root.mainloop()
    finally:
        with contextlib.suppress(tk.TclError):
            root.destroy()
    if stopped:
        raise KeyboardInterrupt
    return 0


def _stop_on_interrupt(root: tk.Tk) -> list:
    """Let Ctrl-C and stopping signals end the window: Tk waits in C for the next event, so a tick every
    WAKE_MS gives Python's signal handlers a moment to run; a KeyboardInterrupt raised in a callback
    ends the main loop (Tk would only print it). The list returned fills when that happened."""
    stopped: list = []
    report = root.report_callback_exception

    def report_or_stop(kind, value, trace):
        if issubclass(kind, KeyboardInterrupt):
            stopped.append(value)
            root.quit()
        else:
            report(kind, value, trace)

    def wake() -> None:
        root.after(WAKE_MS, wake)

    root.report_callback_exception = report_or_stop
    wake()
    return stopped
