"""Images of whole numbers built from MNIST test digits, the ways real forms arrive (seeded).

Each image is one line of 1 to 6 handwritten digits, dark ink on unevenly lit grey paper (a lighting
gradient and blotches), saved as JPEG or PNG: digit heights vary by +-15%, baselines jitter, gaps
range from wide to touching (some pairs overlap their ink), and a few specks of dirt are scattered.
The truth is the digit string and each digit's ink box in the image's pixels.

    items = random_numbers(100, seed=0)       # NumberImage: .image (PIL, decoded), .text, .boxes
    paths = write_numbers(folder, items)      # the same bytes as files
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

MNIST_INK_HEIGHT = 20        # pixels: MNIST digits are scaled to fit a 20x20 box
TRUTH_INK = 0.3              # a digit's box covers its pixels with at least this much ink (0-1)
GAPS = {"wide": (0.35, 0.7), "normal": (0.1, 0.35), "close": (0.03, 0.1)}   # x digit height


@dataclass
class NumberImage:
    """One generated number: the encoded file, its decoded image and the truth.

    boxes: per digit (x0, x1, y0, y1), its ink's box in pixels (x1, y1 exclusive);
    touching: per gap between neighbours, True when their ink overlaps."""

    data: bytes
    format: str                      # "PNG" or "JPEG"
    text: str
    boxes: list[tuple[int, int, int, int]]
    touching: list[bool] = field(default_factory=list)

    @property
    def image(self) -> Image.Image:
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image

    @property
    def suffix(self) -> str:
        return ".jpg" if self.format == "JPEG" else ".png"


@cache
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test digits (10000, 28, 28) uint8 light on dark, and their labels (10000,)."""
    from nnmodel.data.readers import read_bundled

    raw = read_bundled()
    return raw.test_images, raw.test_labels


def ink_of(digit: np.ndarray, height: float) -> np.ndarray:
    """A MNIST digit (28, 28) uint8 cropped to its ink and scaled so the ink is `height` pixels
    tall: float32 (h, w) alpha in [0, 1]."""
    rows, cols = np.flatnonzero(digit.max(axis=1) > 40), np.flatnonzero(digit.max(axis=0) > 40)
    crop = digit[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    scale = height / MNIST_INK_HEIGHT
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR), np.float32) / 255


def touching_x(ink: np.ndarray, alpha: np.ndarray, x: int, y: int, overlap: int) -> int:
    """The largest column <= x at which `alpha` placed at row y shares at least `overlap` inked
    pixels with `ink` (the line so far); x itself when it already does (or no column does)."""
    h, w = alpha.shape
    for left in range(x, max(x - 2 * w, 0) - 1, -1):
        shared = (ink[y: y + h, left: left + w] > 0.5) & (alpha[:, : ink.shape[1] - left] > 0.5)
        if shared.sum() >= overlap:
            return left
    return x


def paper(rng, height: int, width: int, digit_height: float) -> np.ndarray:
    """Uneven grey paper (height, width) in [0, 1]: a base level, a lighting gradient, soft blotches."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(angle) + yy * np.sin(angle)) / max(height, width)
    level = rng.uniform(0.6, 0.95) + rng.uniform(0, 0.3) * (ramp - ramp.mean())
    for _ in range(rng.integers(0, 4)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sigma = rng.uniform(0.3, 1.2) * digit_height
        level = level + rng.uniform(-0.15, 0.05) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    return np.clip(level, 0.2, 1)


def render_number(rng, digits: np.ndarray, labels, *, digit_height: float | None = None, gaps=None,
                  touch: float = 0.08, specks: int | None = None, fmt: str | None = None,
                  light_on_dark: bool = False, clean: bool = False, stray: str | None = None) -> NumberImage:
    """Render MNIST digits (k, 28, 28) uint8 with their labels as one number image.

    digit_height: mean ink height in pixels (default 24-44); gaps: per gap a name from GAPS or
    "touch" (default: random, `touch` the share of touching pairs); specks: dots of dirt (default 0-3);
    fmt: "PNG" or "JPEG" (default random); clean: white paper, no noise (for exact geometry tests);
    stray: a mark that is not a digit beside the number, one of STRAYS ("any": one at random).
    """
    k = len(digits)
    digit_height = digit_height or rng.uniform(24, 44)
    heights = digit_height * rng.uniform(0.85, 1.15, k)
    alphas = [ink_of(d, h) for d, h in zip(digits, heights)]
    if gaps is None:
        gaps = [("touch" if rng.random() < touch else str(rng.choice(list(GAPS), p=[0.2, 0.5, 0.3])))
                for _ in range(k - 1)]
    margin_y = [int(rng.uniform(0.15, 0.6) * digit_height) + 3 for _ in range(2)]
    margin_x = [int(rng.uniform(0.2, 1.0) * digit_height) + 3 for _ in range(2)]
    stray_side = int(rng.integers(2)) if stray else 0
    if stray:  # room for the mark beside the number, apart from it
        margin_x[stray_side] += int(1.4 * digit_height)
    height = int(max(heights) + 0.2 * digit_height) + sum(margin_y)
    width = sum(a.shape[1] for a in alphas) + int(0.7 * digit_height * k) + sum(margin_x)
    ink = np.zeros((height, width), np.float32)
    boxes, touching, x = [], [], margin_x[0]
    baseline = margin_y[0] + max(heights) + 0.1 * digit_height
    for i, alpha in enumerate(alphas):
        h, w = alpha.shape
        y = round(baseline - h + rng.uniform(-0.06, 0.06) * digit_height)
        if i:
            kind = gaps[i - 1]
            if kind == "touch":
                x = touching_x(ink, alpha, x, y, overlap=int(rng.integers(1, 5)))
            else:
                x += round(rng.uniform(*GAPS[kind]) * digit_height)
            touching.append(kind == "touch")
        ink[y: y + h, x: x + w] = np.maximum(ink[y: y + h, x: x + w], alpha)
        rows, cols = np.flatnonzero((alpha >= TRUTH_INK).any(axis=1)), np.flatnonzero((alpha >= TRUTH_INK).any(axis=0))
        boxes.append((x + int(cols[0]), x + int(cols[-1]) + 1, y + int(rows[0]), y + int(rows[-1]) + 1))
        x += w
    width = x + margin_x[1]
    ink = ink[:, :width]
    if stray:
        stray_mark(rng, ink, stray, digit_height, margin_x[0] - int(1.3 * digit_height) if stray_side == 0
                   else width - margin_x[1] + int(0.35 * digit_height), baseline)
    if clean:
        grey = 1 - ink
    else:
        ground = paper(rng, height, width, digit_height)
        ink_level = rng.uniform(0.02, 0.3)
        grey = ground + (ink_level - ground) * ink * rng.uniform(0.85, 1.0)
        for _ in range(rng.integers(0, 4) if specks is None else specks):
            grey = add_speck(rng, grey, ink_level, digit_height)
        grey += rng.normal(0, rng.uniform(0, 0.02), grey.shape).astype(np.float32)
    grey = np.clip(grey, 0, 1)
    if light_on_dark:
        grey = 1 - grey
    image = Image.fromarray(np.round(grey * 255).astype(np.uint8))
    fmt = fmt or str(rng.choice(["PNG", "JPEG"]))
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    else:
        image.save(buffer, "PNG")
    text = "".join(str(int(label)) for label in labels)
    return NumberImage(buffer.getvalue(), fmt, text, boxes, touching)


STRAYS = ("dash", "cross", "tangle", "tick", "blot")


def stray_mark(rng, ink: np.ndarray, kind: str, digit_height: float, x0: int, baseline: float) -> None:
    """Draw a mark that is no digit into `ink` (in place), in a box about 0.9 digit heights wide
    starting at column x0: a dash, a small cross, a tangle of pen, a tick or an ink blot."""
    from PIL import ImageDraw

    kind = str(rng.choice(STRAYS)) if kind == "any" else kind
    size = digit_height * rng.uniform(0.55, 0.85)
    top = baseline - digit_height * rng.uniform(0.7, 1.0)
    layer = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    pen = max(2, round(digit_height * rng.uniform(0.08, 0.14)))
    if kind == "dash":
        y = top + size * rng.uniform(0.3, 0.7)
        draw.line([(x0, y), (x0 + size, y + rng.uniform(-0.1, 0.1) * size)], fill=255, width=pen)
    elif kind == "cross":
        draw.line([(x0, top), (x0 + size, top + size)], fill=255, width=pen)
        draw.line([(x0 + size, top), (x0, top + size)], fill=255, width=pen)
    elif kind == "tick":
        draw.line([(x0, top + 0.6 * size), (x0 + 0.35 * size, top + size), (x0 + size, top)], fill=255,
                  width=pen, joint="curve")
    elif kind == "blot":
        r = size * rng.uniform(0.25, 0.4)
        draw.ellipse([x0, top + size / 2 - r, x0 + 2 * r * rng.uniform(1.0, 1.6), top + size / 2 + r], fill=255)
    else:  # a tangle
        point, heading, points = np.array([x0 + size / 2, top + size / 2]), rng.uniform(0, 2 * np.pi), []
        for _ in range(int(rng.integers(30, 60))):
            heading += rng.normal(0, 0.9)
            point = np.clip(point + size / 12 * np.array([np.cos(heading), np.sin(heading)]),
                            [x0, top], [x0 + size, top + size])
            points.append(tuple(point))
        draw.line(points, fill=255, width=pen, joint="curve")
    np.maximum(ink, np.asarray(layer, np.float32) / 255, out=ink)


def add_speck(rng, grey: np.ndarray, ink_level: float, digit_height: float) -> np.ndarray:
    """A round dot of dirt, at most a tenth of the digit height across, somewhere on the image."""
    radius = rng.uniform(0.6, max(0.8, 0.05 * digit_height))
    cy, cx = rng.uniform(0, grey.shape[0]), rng.uniform(0, grey.shape[1])
    yy, xx = np.ogrid[0: grey.shape[0], 0: grey.shape[1]]
    dot = np.clip(radius + 0.5 - np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2), 0, 1).astype(np.float32)
    return grey + (ink_level - grey) * dot


def random_numbers(count: int, seed: int = 0, lengths=range(1, 7), stray_share: float = 0.0,
                   **options) -> list[NumberImage]:
    """`count` numbers of random length (from `lengths`) made of random MNIST test digits; with
    `stray_share`, every 1/stray_share-th one (from the first) has a stray mark beside it."""
    images, labels = mnist_test()
    rng = np.random.default_rng(seed)
    every = round(1 / stray_share) if stray_share else 0
    items = []
    for i in range(count):
        picks = rng.integers(0, len(images), int(rng.choice(list(lengths))))
        stray = {"stray": "any"} if every and i % every == 0 else {}
        items.append(render_number(rng, images[picks], labels[picks], **options, **stray))
    return items


def write_numbers(folder: Path, items: list[NumberImage]) -> list[Path]:
    """Write each image's file into `folder` as number-<index>.png/.jpg; returns the paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        path = folder / f"number-{i:05d}{item.suffix}"
        path.write_bytes(item.data)
        paths.append(path)
    return paths


def broken_digit(digit: np.ndarray, part: tuple[slice, slice], shift: tuple[int, int]) -> np.ndarray:
    """A MNIST digit (28, 28) with the ink inside `part` (rows, columns) moved by `shift` (rows,
    columns) on a larger canvas, e.g. a 5 whose top bar floats apart: (36, 36) uint8."""
    canvas = np.zeros((36, 36), np.uint8)
    canvas[4:32, 4:32] = digit
    rows, cols = part
    piece = np.zeros_like(canvas)
    piece[4:32, 4:32][rows, cols] = digit[rows, cols]
    canvas[4:32, 4:32][rows, cols] = 0
    moved = np.roll(piece, shift, axis=(0, 1))
    return np.maximum(canvas, moved)
