"""Images that are not digits, in MNIST form: what a model learns its "not a digit" class from, and
what the reject benchmark measures it on.

Kinds (NEGATIVE_KINDS), each drawn as a person's camera or scanner would give it, then put through the
project's own preprocessing (`preprocess_greys`), so the network sees them exactly as it will see a
user's image:

  noise      pixel noise: uniform, Gaussian, salt and pepper, colour noise seen in grey, blotches
  texture    stripes at any angle, checks, hatching, dot grids
  paper      an empty page: grain, a gradient of light, a shadow's edge, ruled or squared lines
  letter     handwritten letters that look like no digit (A E F H K M N R V W X e h k m w)
  symbol     + - = x * # % < > arrows, ticks, division signs, @
  scribble   a tangle of pen strokes, a crossed-out zigzag
  fragment   a piece of a real digit (a half or a corner; never a piece that looks like a 1)
  pair       two real digits touching or overlapping, read as one image

Drawn kinds use a 64x64 canvas, dark ink on light paper or light on dark, pen widths 2-7 pixels,
random size, slant and position; fragments and pairs are made from the MNIST digits given.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

from nnmodel.images.preprocess import preprocess_greys

NEGATIVE_KINDS = ("noise", "texture", "paper", "letter", "symbol", "scribble", "fragment", "pair")
CANVAS = 64
BLOCK = 1000             # negatives made together, from one seed
DIGITS_PER_BLOCK = 2000  # the digits a block's fragments and pairs are made from
NOT_A_DIGIT = 10    # the label of a negative (digits are 0-9)
GENERATOR_VERSION = 4  # part of the distortion layer's digest: change it when the images change

# strokes in a unit box (x right, y down); letters and symbols a reader would not take for a digit
LETTERS = {
    "A": [[(0, 1), (.5, 0), (1, 1)], [(.25, .55), (.75, .55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, .5), (.7, .5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, .5), (.7, .5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, .5), (1, .5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, .55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (.5, .6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "R": [[(0, 1), (0, 0), (.8, 0), (1, .2), (.8, .45), (0, .45)], [(.4, .45), (1, 1)]],
    "V": [[(0, 0), (.5, 1), (1, 0)]],
    "W": [[(0, 0), (.25, 1), (.5, .4), (.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "e": [[(.1, .55), (.9, .55), (.8, .3), (.5, .15), (.2, .3), (.1, .6), (.25, .9), (.6, 1), (.9, .9)]],
    "h": [[(0, 0), (0, 1)], [(0, .6), (.5, .45), (.9, .6), (.9, 1)]],
    "k": [[(0, 0), (0, 1)], [(.8, .4), (0, .75), (.8, 1)]],
    "m": [[(0, .35), (0, 1)], [(0, .5), (.25, .35), (.5, .5), (.5, 1)], [(.5, .5), (.75, .35), (1, .5), (1, 1)]],
    "w": [[(0, .3), (.25, 1), (.5, .5), (.75, 1), (1, .3)]],
}
SYMBOLS = {
    "+": [[(.5, 0), (.5, 1)], [(0, .5), (1, .5)]],
    "-": [[(0, .5), (1, .5)]],
    "=": [[(0, .35), (1, .35)], [(0, .65), (1, .65)]],
    "x": [[(.15, .15), (.85, .85)], [(.85, .15), (.15, .85)]],
    "*": [[(.5, 0), (.5, 1)], [(.07, .25), (.93, .75)], [(.93, .25), (.07, .75)]],
    "#": [[(.35, 0), (.25, 1)], [(.75, 0), (.65, 1)], [(0, .33), (1, .33)], [(0, .67), (1, .67)]],
    "<": [[(1, 0), (0, .5), (1, 1)]],
    ">": [[(0, 0), (1, .5), (0, 1)]],
    "arrow": [[(0, .5), (1, .5)], [(.7, .2), (1, .5), (.7, .8)]],
    "tick": [[(0, .6), (.35, 1), (1, 0)]],
    "divide": [[(0, .5), (1, .5)], [(.48, .15), (.52, .15)], [(.48, .85), (.52, .85)]],
    "percent": [[(1, 0), (0, 1)], "ring:.2,.2,.15", "ring:.8,.8,.15"],
    "at": ["ring:.5,.5,.5", "ring:.52,.52,.2", [(.72, .35), (.72, .75), (.9, .8)]],
}


def negative_images(n: int, digits: np.ndarray, seed: int = 0, kinds=NEGATIVE_KINDS) -> np.ndarray:
    """n images (n, 28, 28) uint8 in MNIST form that are not digits, the kinds in turn (image i is of
    kind kinds[i % len(kinds)]); `digits` (m, 28, 28) MNIST digits (uint8) for fragments and pairs."""
    return negatives_by_kind(n, digits, seed, kinds)[0]


def negatives_by_kind(n: int, digits: np.ndarray, seed: int = 0, kinds=NEGATIVE_KINDS,
                      workers: int | None = None) -> tuple[np.ndarray, list]:
    """negative_images and each image's kind (n,). Made in blocks of BLOCK images, each from its own
    seed and its own random DIGITS_PER_BLOCK digits, on `workers` processes (default: one per core);
    the same seed gives the same images whatever the workers."""
    unknown = set(kinds) - set(NEGATIVE_KINDS)
    if unknown:
        raise ValueError(f"unknown kind of negative {sorted(unknown)}; choose from {', '.join(NEGATIVE_KINDS)}")
    digits = np.asarray(digits).reshape(-1, 28, 28)
    names = [kinds[i % len(kinds)] for i in range(n)]
    blocks = []
    for number, start in enumerate(range(0, n, BLOCK)):
        rng = np.random.default_rng([seed, 22, number])
        chosen = digits[np.sort(rng.choice(len(digits), min(len(digits), DIGITS_PER_BLOCK), replace=False))]
        blocks.append((names[start: start + BLOCK], chosen, [seed, 21, number]))
    workers = min(len(blocks), workers or os.cpu_count() or 1)
    if workers > 1:
        from nnmodel.images.distort import hand_pool

        with hand_pool(workers) as pool:
            parts = list(pool.map(negative_block, *zip(*blocks)))
    else:
        parts = [negative_block(*block) for block in blocks]
    out = np.concatenate(parts) if parts else np.zeros((0, 28, 28), np.uint8)
    return out, names


def negative_block(names: list[str], digits: np.ndarray, seed: list[int]) -> np.ndarray:
    """One block of negatives (len(names), 28, 28) uint8, of the kinds named, in MNIST form."""
    rng = np.random.default_rng(seed)
    done = preprocess_greys([MAKERS[name](rng, digits) for name in names])
    return np.round(np.stack([d.pixels for d in done]) * 255).astype(np.uint8)


# ------------------------------------------------------------------ drawn on a canvas

def _paper(rng) -> tuple[Image.Image, int]:
    """A blank canvas (paper light with dark ink, or the reverse) and the ink's grey level."""
    if rng.random() < 0.8:
        return Image.new("L", (CANVAS, CANVAS), int(rng.integers(170, 256))), int(rng.integers(0, 90))
    return Image.new("L", (CANVAS, CANVAS), int(rng.integers(0, 60))), int(rng.integers(170, 256))


def _finish(image: Image.Image, rng) -> np.ndarray:
    """The canvas as the camera gives it: a little grain."""
    grey = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 6), (CANVAS, CANVAS))
    return np.clip(grey, 0, 255).astype(np.uint8)


def _draw_strokes(strokes, rng) -> np.ndarray:
    """Strokes in a unit box, jittered, slanted, sized and placed at random, drawn with a round pen."""
    image, ink = _paper(rng)
    draw = ImageDraw.Draw(image)
    height = rng.uniform(20, 46)
    width = height * rng.uniform(0.5, 1.1)
    slant, angle = rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2)
    x0, y0 = rng.uniform(4, CANVAS - 4 - width), rng.uniform(4, CANVAS - 4 - height)
    pen = int(rng.integers(2, 8))
    c, s = np.cos(angle), np.sin(angle)

    def place(points):
        p = np.asarray(points, float) + rng.normal(0, 0.04, (len(points), 2))
        x, y = (p[:, 0] + slant * (1 - p[:, 1])) * width, p[:, 1] * height
        return [(x0 + c * a - s * b, y0 + s * a + c * b) for a, b in zip(x, y)]

    for stroke in strokes:
        if isinstance(stroke, str):  # "ring:cx,cy,r" a circle in the unit box
            cx, cy, r = map(float, stroke.split(":")[1].split(","))
            t = np.linspace(0, 2 * np.pi, 24)
            stroke = list(zip(cx + r * np.cos(t), cy + r * np.sin(t)))
        points = place(stroke)
        if len(points) == 2 and np.hypot(points[0][0] - points[1][0], points[0][1] - points[1][1]) < 2:
            draw.ellipse([points[0][0] - pen, points[0][1] - pen, points[0][0] + pen, points[0][1] + pen], fill=ink)
            continue
        draw.line(points, fill=ink, width=pen, joint="curve")
    return _finish(image, rng)


def letter(rng, digits) -> np.ndarray:
    return _draw_strokes(list(LETTERS.values())[rng.integers(len(LETTERS))], rng)


def symbol(rng, digits) -> np.ndarray:
    return _draw_strokes(list(SYMBOLS.values())[rng.integers(len(SYMBOLS))], rng)


def scribble(rng, digits) -> np.ndarray:
    """A tangle: a pen wandering with sharp turns, or a zigzag crossing something out."""
    image, ink = _paper(rng)
    draw = ImageDraw.Draw(image)
    pen = int(rng.integers(2, 7))
    if rng.random() < 0.3:
        rows = rng.uniform(10, 54, int(rng.integers(6, 11)))
        xs = rng.uniform(6, 18), rng.uniform(46, 58)
        points = [(xs[i % 2] + rng.normal(0, 2), y) for i, y in enumerate(np.sort(rows))]
        draw.line(points, fill=ink, width=pen, joint="curve")
        return _finish(image, rng)
    for _ in range(int(rng.integers(1, 4))):
        point, heading = rng.uniform(16, 48, 2), rng.uniform(0, 2 * np.pi)
        points = [tuple(point)]
        for _ in range(int(rng.integers(40, 90))):
            heading += rng.normal(0, 0.9)
            point = np.clip(point + 2.5 * np.array([np.cos(heading), np.sin(heading)]), 4, CANVAS - 4)
            points.append(tuple(point))
        draw.line(points, fill=ink, width=pen, joint="curve")
    return _finish(image, rng)


# ------------------------------------------------------------------ no strokes at all

def noise(rng, digits) -> np.ndarray:
    kind = rng.integers(5)
    if kind == 0:
        grey = rng.uniform(0, 255, (CANVAS, CANVAS))
    elif kind == 1:
        grey = rng.normal(128, rng.uniform(20, 60), (CANVAS, CANVAS))
    elif kind == 2:  # salt and pepper on a plain page
        grey = np.full((CANVAS, CANVAS), rng.uniform(150, 250))
        grey[rng.random((CANVAS, CANVAS)) < rng.uniform(0.02, 0.2)] = rng.uniform(0, 80)
    elif kind == 3:  # colour noise seen in grey
        grey = rng.uniform(0, 255, (CANVAS, CANVAS, 3)) @ np.array([0.299, 0.587, 0.114])
    else:  # blotches: coarse noise blown up
        cells = int(rng.integers(3, 12))
        coarse = Image.fromarray(rng.uniform(0, 255, (cells, cells)).astype(np.uint8))
        grey = np.asarray(coarse.resize((CANVAS, CANVAS), Image.BICUBIC), np.float32)
        grey = grey + rng.normal(0, 8, grey.shape)
    return np.clip(grey, 0, 255).astype(np.uint8)


def texture(rng, digits) -> np.ndarray:
    y, x = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    kind = rng.integers(4)
    period = rng.uniform(4, 16)
    if kind == 0:  # stripes at any angle
        a = rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / period)
    elif kind == 1:  # checks
        wave = np.sign(np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period))
    elif kind == 2:  # hatching: two sets of lines
        a, b = rng.uniform(0, np.pi, 2)
        wave = np.maximum(np.cos(2 * np.pi * (x * np.cos(a) + y * np.sin(a)) / period),
                          np.cos(2 * np.pi * (x * np.cos(b) + y * np.sin(b)) / period)) ** 9
    else:  # a grid of dots
        wave = (np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period)) ** 8
    low, high = sorted(rng.uniform(0, 255, 2))
    grey = low + (high - low) * (wave - wave.min()) / max(float(np.ptp(wave)), 1e-6)
    return np.clip(grey + rng.normal(0, 5, grey.shape), 0, 255).astype(np.uint8)


def paper(rng, digits) -> np.ndarray:
    """An empty page photographed at twice the canvas (so preprocessing cleans its paper as it cleans
    any photo's): grain, light falling off, maybe a shadow's edge or ruled lines. Most come out blank."""
    y, x = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    grey = rng.uniform(170, 245) + rng.uniform(0, 40) * ((x * np.cos(a) + y * np.sin(a)) / CANVAS - 0.5)
    grey = grey + rng.normal(0, rng.uniform(2, 10), grey.shape)
    choice = rng.integers(3)
    if choice == 0:  # a shadow's soft edge
        b = rng.uniform(0, 2 * np.pi)
        edge = (x - 32) * np.cos(b) + (y - 32) * np.sin(b) - rng.uniform(-20, 20)
        grey = grey - rng.uniform(30, 110) / (1 + np.exp(-edge / rng.uniform(1, 6)))
    elif choice == 1:  # ruled or squared lines
        gap, level = rng.uniform(8, 20), rng.uniform(20, 80)
        grey = grey - level * (np.abs(((y + rng.uniform(0, gap)) % gap) - gap / 2) > gap / 2 - 1)
        if rng.random() < 0.5:
            grey = grey - level * (np.abs(((x + rng.uniform(0, gap)) % gap) - gap / 2) > gap / 2 - 1)
    page = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).resize((2 * CANVAS, 2 * CANVAS), Image.BILINEAR)
    return np.asarray(page)


# ------------------------------------------------------------------ made from real digits

def fragment(rng, digits) -> np.ndarray:
    """A half or a corner of a digit, alone: tried until the piece holds 20-55% of the ink and is
    neither one straight stroke nor tall and narrow (those read as a 1)."""
    for _ in range(50):
        digit = digits[rng.integers(len(digits))].astype(np.float32)
        rows, cols = np.flatnonzero(digit.max(axis=1) > 60), np.flatnonzero(digit.max(axis=0) > 60)
        if len(rows) < 4 or len(cols) < 4:
            continue
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        keep = np.zeros_like(digit, bool)
        cut_r, cut_c = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)
        rr, cc = int(r0 + cut_r * (r1 - r0)), int(c0 + cut_c * (c1 - c0))
        halves_r, halves_c, part = [slice(0, rr), slice(rr, 28)], [slice(0, cc), slice(cc, 28)], rng.integers(8)
        if part < 2:
            keep[halves_r[part]] = True
        elif part < 4:
            keep[:, halves_c[part - 2]] = True
        else:  # a corner
            keep[halves_r[(part - 4) // 2], halves_c[part % 2]] = True
        piece = np.where(keep, digit, 0)
        share = piece.sum() / digit.sum()
        pr, pc = np.flatnonzero(piece.max(axis=1) > 60), np.flatnonzero(piece.max(axis=0) > 60)
        if not 0.2 <= share <= 0.55 or len(pr) < 3 or len(pc) < 3:
            continue
        if line_like(piece) or pr[-1] - pr[0] + 1 > 1.6 * (pc[-1] - pc[0] + 1):
            continue
        return piece.astype(np.uint8)
    return noise(rng, digits)


def line_like(piece: np.ndarray) -> bool:
    """Whether the ink is one straight stroke at any angle (its spread across its main direction under
    0.45 of its spread along it): a 1, not a fragment."""
    y, x = np.nonzero(piece > 60)
    spread = np.linalg.eigvalsh(np.cov(np.stack([x, y]).astype(float)))
    return bool(spread[0] < (0.45 ** 2) * spread[1])


def pair(rng, digits) -> np.ndarray:
    """Two digits side by side, touching or overlapping, on one 28x56 canvas."""
    first, second = digits[rng.integers(len(digits), size=2)]
    overlap = int(rng.integers(6, 14))  # MNIST digits stand in the middle 20 of 28 columns: 8 touches
    canvas = np.zeros((28, 56 - overlap), np.uint8)
    canvas[:, :28] = first
    dy = int(rng.integers(-2, 3))
    canvas[:, 28 - overlap:] = np.maximum(canvas[:, 28 - overlap:], np.roll(second, dy, axis=0))
    return canvas


MAKERS = {"noise": noise, "texture": texture, "paper": paper, "letter": letter, "symbol": symbol,
          "scribble": scribble, "fragment": fragment, "pair": pair}
