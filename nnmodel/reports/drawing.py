"""The drawing kit that every picture shares: colours, Pillow's own font, red/blue maps of weights and
attributions, probability bars, colour keys, and charts (a `Panel` with axes, ticks and lines).

Red (FOR) is evidence for an answer or a positive weight, blue (AGAINST) evidence against it or a
negative weight: red and blue stay apart for colour-blind eyes.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIDE = 28                   # MNIST images are SIDE x SIDE pixels
FOR = (202, 0, 32)          # red: evidence for the answer, positive weights
AGAINST = (5, 113, 176)     # blue: evidence against it, negative weights (red/blue stay apart for colour-blind eyes)
GRID, AXIS, LOSS_LINE, ACCURACY_LINE, KEPT = (230, 230, 230), (60, 60, 60), (31, 119, 180), (44, 140, 60), FOR


@functools.lru_cache(maxsize=8)
def label_font(size: int = 14) -> ImageFont.ImageFont:
    """Pillow's own scalable font at `size` px (no font files needed); the small bitmap font when
    this Pillow lacks FreeType."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def diverging_rgb(values: np.ndarray, limit: float, base: np.ndarray | float = 255.0) -> np.ndarray:
    """uint8 colours (..., 3): `base` (grey levels, same shape as values, or one level) tinted towards
    red for positive values and blue for negative ones, fully at |value| >= limit."""
    values = np.asarray(values, dtype=np.float64)
    strength = np.clip(np.abs(values) / limit, 0, 1)[..., None] if limit > 0 else np.zeros(values.shape + (1,))
    colour = np.where(values[..., None] >= 0, np.array(FOR, dtype=np.float64), np.array(AGAINST, dtype=np.float64))
    grey = np.broadcast_to(np.asarray(base, dtype=np.float64), values.shape)[..., None]
    return (grey * (1 - strength) + colour * strength).astype(np.uint8)


def weight_tile(weights: np.ndarray, scale: int) -> Image.Image:
    """One unit's weights (h, w), e.g. (28, 28), as a diverging image scaled to its own max |w|,
    enlarged `scale` times."""
    rgb = diverging_rgb(weights, float(np.abs(weights).max()))
    height, width = weights.shape
    return Image.fromarray(rgb, "RGB").resize((width * scale, height * scale), Image.NEAREST)


def tile_scale(shape: tuple[int, ...], side: int) -> int:
    """The whole enlargement that makes pictures of `shape` (h, w) about `side` pixels on their longer side."""
    return max(1, round(side / max(shape[-2:])))


def overlay(pixels: np.ndarray, attribution_map: np.ndarray, scale: int = 8) -> Image.Image:
    """The attribution (28, 28) over the faint input, enlarged to (28 * scale) px square (RGB).

    Ink shows as light grey on white so the colours stay readable: red pixels push towards the
    answer, blue ones away, both scaled to the map's largest |value|. Fast enough for a live panel
    (about 0.2 ms at scale 8: a NumPy blend, then one nearest-neighbour resize).
    """
    ink = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
    attribution_map = np.asarray(attribution_map, dtype=np.float64)
    rgb = diverging_rgb(attribution_map, float(np.abs(attribution_map).max()), base=255.0 - 90.0 * ink)
    return Image.fromarray(rgb, "RGB").resize((SIDE * scale, SIDE * scale), Image.NEAREST)


def draw_probability_bars(draw: ImageDraw.ImageDraw, proba: np.ndarray, digit: int, box: tuple) -> None:
    """Ten horizontal bars in box (left, top, right, bottom): digit label, bar, percentage; the answer dark."""
    left, top, right, bottom = box
    row = (bottom - top) / len(proba)
    bar_left, bar_right = left + 20, right - 56
    for d, p in enumerate(proba):
        y = top + d * row
        colour = (40, 40, 40) if d == digit else (150, 150, 150)
        text_at_middle(draw, (left + 2, y + row / 2), str(d), label_font(14))
        draw.rectangle((bar_left, y + 3, bar_right, y + row - 3), outline=(220, 220, 220))
        width = round(float(p) * (bar_right - bar_left))
        if width > 0:
            draw.rectangle((bar_left, y + 3, bar_left + width, y + row - 3), fill=colour)
        text_at_middle(draw, (bar_right + 6, y + row / 2), percent(p), label_font(12))


def percent(p: float) -> str:
    """A probability as a percentage that never rounds a near-certainty up to 100% or a chance down to 0%."""
    p = float(p)
    if 0.999 < p < 1:
        return ">99.9%"
    if 0 < p < 0.001:
        return "<0.1%"
    return f"{p:.1%}"


def text_at_middle(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font, fill="black") -> None:
    """Text starting at x, centred vertically on y (measured, since bitmap fonts take no anchors)."""
    _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((at[0], at[1] - (top + bottom) / 2), text, fill=fill, font=font)


def draw_key(draw: ImageDraw.ImageDraw, at: tuple[int, int], entries: list[tuple[tuple, str]]) -> None:
    """A colour key: one small swatch and its meaning per line, from `at` downwards."""
    x, y = at
    for colour, text in entries:
        draw.rectangle((x, y + 2, x + 10, y + 12), fill=colour)
        draw.text((x + 16, y), text, fill="black", font=label_font(12))
        y += 16


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) within [low, high]."""
    if not high > low:
        return [low]
    rough = (high - low) / count
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def tick_text(value: float, step: float, percent: bool = False) -> str:
    """A tick label with as many decimals as the step needs."""
    if percent:
        value, step = value * 100, step * 100
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{decimals}f}{'%' if percent else ''}"


def tick_step(ticks: list[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1.0


class Panel:
    """A plot area in an image: maps data (x, y) to pixels and draws axes with ticks and a title."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], x_range, y_range):
        self.draw, self.box = draw, box
        self.x_range, self.y_range = x_range, y_range

    def point(self, x: float, y: float) -> tuple[float, float]:
        left, top, right, bottom = self.box
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return (left + (x - x0) / ((x1 - x0) or 1) * (right - left),
                bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top))

    def axes(self, title: str, x_label: str, x_percent: bool = False, y_percent: bool = False,
             x_whole: bool = False) -> None:
        """Frame, grid lines and tick labels (percentages, or only whole numbers for counts like iterations)."""
        left, top, right, bottom = self.box
        draw, font = self.draw, label_font(12)
        y_ticks = nice_ticks(*self.y_range)
        for y in y_ticks:
            py = self.point(self.x_range[0], y)[1]
            draw.line((left, py, right, py), fill=GRID)
            text = tick_text(y, tick_step(y_ticks), y_percent)
            width = draw.textlength(text, font=font)
            draw.text((left - 6 - width, py - 7), text, fill=AXIS, font=font)
        x_ticks = [x for x in nice_ticks(*self.x_range, count=8) if not x_whole or x == int(x)]
        for x in x_ticks:
            px = self.point(x, self.y_range[0])[0]
            draw.line((px, bottom, px, bottom + 4), fill=AXIS)
            text = tick_text(x, 1 if x_whole else tick_step(x_ticks), x_percent)
            draw.text((px - draw.textlength(text, font=font) / 2, bottom + 6), text, fill=AXIS, font=font)
        draw.line((left, top, left, bottom), fill=AXIS)
        draw.line((left, bottom, right, bottom), fill=AXIS)
        draw.text((left, top - 22), title, fill="black", font=label_font(14))
        if x_label:
            draw.text((right - draw.textlength(x_label, font=font), bottom + 22), x_label, fill=AXIS, font=font)

    def line(self, xs, ys, colour, width: int = 2) -> None:
        points = [self.point(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=width, joint="curve")

    def dots(self, xs, ys, colour, radius: int = 3) -> None:
        for x, y in zip(xs, ys):
            px, py = self.point(x, y)
            self.draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=colour)

    def dashed_vertical(self, x: float, colour) -> None:
        px = self.point(x, self.y_range[0])[0]
        _, top, _, bottom = self.box
        for y in range(top, bottom, 8):
            self.draw.line((px, y, px, min(y + 4, bottom)), fill=colour, width=2)


def padded(low: float, high: float, share: float = 0.05) -> tuple[float, float]:
    """[low, high] widened by `share` of its span on each side (or by 1% of |value| when flat), so
    curves do not run along the frame."""
    span = (high - low) or abs(high) * 0.02 or 1.0
    return low - share * span, high + share * span
