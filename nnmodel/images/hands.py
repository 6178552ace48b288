"""Training copies in other hands: how real digits arrive that MNIST's scans never show.

Each hand redraws MNIST training digits (float32 (n, 28, 28) in [0, 1], digit light on dark) as a
digit of that kind would reach the project, and brings it back to the MNIST form with the project's
own preprocessing (crop to the ink, fit into 20x20 keeping the aspect ratio, centre of mass at the
centre), exactly as a real input of that kind would be:

  lowres   a low-resolution scan: the ink's box reduced (area average) to R x R pixels, R in
           LOWRES_SIDES, either fitted keeping its aspect ratio or stretched to fill the square (a
           share STRETCH: some scanning pipelines do that), then binarised at a random threshold
           (black-and-white scans; a share BINARY) or kept grey from binarised ink (a grey scan of pen
           ink); half of them handed to preprocessing at that size, half blown up 4x first
  mouse    drawn with a mouse, as in the viewer: the digit thinned to its skeleton and redrawn with a
           round pen (an anti-aliased disc at each skeleton pixel) of a random width in MOUSE_WIDTHS
  pen      the same, with a thin pen to a thick marker (PEN_WIDTHS)
  slant    a strong slant: a horizontal shear of SLANT either way (beyond the affine kind's)
  aspect   narrower or wider writing: the width scaled by a factor in ASPECT (log-uniform)
Measured on the other-writers sets (BENCHMARKS.md): lowres is what reads low-resolution scans such as
optdigits, mouse what reads drawn digits; a pen-tablet hand (strokes sampled at a few points) was
tried and dropped: it cost MNIST accuracy and helped nothing scored.
Randomness comes from the `rng` given (the caller seeds it per block): same seed, same bytes.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from nnmodel.images.preprocess import preprocess_greys
from nnmodel.images.strokes import skeleton

HANDS = ("lowres", "mouse", "pen", "slant", "aspect")
LOWRES_SIDES = (8, 16)        # R, inclusive: the side of the low-resolution scan
STRETCH = 0.4                 # share of low-resolution scans stretched to fill the square
BINARY = 0.6                  # share of them binarised (the rest grey, from binarised pen ink)
BLOWN_UP = 0.5                # share blown up 4x (bilinear) before preprocessing
PAD = 3                       # pixels around the digit for the widest pen (radius 2 + anti-aliasing)
MOUSE_WIDTHS = (0.9, 3.2)     # pen width in MNIST pixels (the drawn score uses 1.2, 2.0 and 2.8)
PEN_WIDTHS = (0.8, 4.0)       # MNIST pixels: thin pen to thick marker, log-uniform
SLANT = (0.25, 0.6)           # |shear| of the strong slant
ASPECT = (0.6, 1.5)           # width factor, log-uniform
INK = 0.25                    # where the ink is, for boxes and skeletons (preprocess's INK_THRESHOLD)


def redraw(images: np.ndarray, hand: str, rng: np.random.Generator) -> np.ndarray:
    """Images (n, 28, 28) float32 in [0, 1] redrawn in `hand`, in MNIST form: float32 (n, 28, 28)."""
    if hand not in HANDS:
        raise ValueError(f"unknown hand {hand!r}; choose from {', '.join(HANDS)}")
    if not len(images):
        return np.zeros((0, 28, 28), np.float32)
    return mnist_form(globals()[f"_{hand}"](images, rng))


def mnist_form(greys: list[np.ndarray]) -> np.ndarray:
    """Grey images (any sizes, light ink on dark) -> (n, 28, 28) float32 in the MNIST form."""
    return np.stack([p.pixels for p in preprocess_greys(greys)])


def ink_box(image: np.ndarray) -> np.ndarray:
    """The part of an image (h, w) inside its ink's bounding box (the whole image when it has none)."""
    rows, cols = np.flatnonzero((image > INK).any(axis=1)), np.flatnonzero((image > INK).any(axis=0))
    return image[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1] if len(rows) else image


def _lowres(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    n = len(images)
    side = rng.integers(LOWRES_SIDES[0], LOWRES_SIDES[1] + 1, n)
    stretched, binarised, blown = rng.random(n) < STRETCH, rng.random(n) < BINARY, rng.random(n) < BLOWN_UP
    threshold, margin = rng.uniform(0.3, 0.6, n), rng.integers(1, 3, n)
    greys = []
    for i in range(n):
        box = ink_box(images[i]).astype(np.float32)
        if not binarised[i]:
            box = (box > 0.4).astype(np.float32)  # the pen's ink, then a grey (area-averaged) scan of it
        h, w, r = box.shape[0], box.shape[1], int(side[i])
        size = (r, r) if stretched[i] else (max(1, round(w * r / max(h, w))), max(1, round(h * r / max(h, w))))
        small = np.asarray(Image.fromarray(box, mode="F").resize(size, Image.Resampling.BOX))
        if binarised[i]:
            small = (small > threshold[i] * small.max()).astype(np.float32)
        m = int(margin[i])
        canvas = np.zeros((r + 2 * m, r + 2 * m), np.float32)
        top, left = m + (r - small.shape[0]) // 2, m + (r - small.shape[1]) // 2
        canvas[top: top + small.shape[0], left: left + small.shape[1]] = small
        if blown[i]:
            canvas = np.asarray(Image.fromarray(canvas, mode="F").resize(
                (canvas.shape[1] * 4, canvas.shape[0] * 4), Image.Resampling.BILINEAR))
        greys.append(np.clip(canvas, 0, 1))
    return greys


def skeleton_drawings(images: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Each digit's skeleton drawn with a round pen of widths[i] MNIST pixels, anti-aliased: a disc
    stamped at every skeleton pixel (what a pen leaves along a mouse's path), each canvas pixel as dark
    as the nearest disc's coverage of it. float32 (n, 28 + 2 PAD, 28 + 2 PAD), all images at once."""
    skeletons = np.pad(skeleton(images > 0.5), ((0, 0), (PAD, PAD), (PAD, PAD))).astype(np.float32)
    radius = (np.asarray(widths, np.float32) / 2)[:, None, None]
    ink = np.zeros_like(skeletons)
    for dy in range(-PAD, PAD + 1):
        for dx in range(-PAD, PAD + 1):
            coverage = np.clip(radius + 0.5 - np.hypot(dy, dx), 0, 1)   # (n, 1, 1): this offset's share of ink
            if coverage.max() > 0:
                np.maximum(ink, np.roll(skeletons, (dy, dx), axis=(1, 2)) * coverage, out=ink)
    return ink


def _mouse(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    return list(skeleton_drawings(images, rng.uniform(*MOUSE_WIDTHS, len(images))))


def _pen(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    widths = np.exp(rng.uniform(np.log(PEN_WIDTHS[0]), np.log(PEN_WIDTHS[1]), len(images)))
    return list(skeleton_drawings(images, widths))


def _slant(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    n, pad = len(images), 12
    shear = rng.uniform(*SLANT, n) * rng.choice([-1, 1], n)
    greys = []
    for image, s in zip(images, shear):
        canvas = np.pad(image.astype(np.float32), ((0, 0), (pad, pad)))
        # output (r, c) reads input (r, c + s (r - 14)): the top leans right for s > 0
        greys.append(np.clip(ndimage.affine_transform(canvas, np.array([[1, 0], [s, 1]]), np.array([0, -s * 14]),
                                                      order=1), 0, 1))
    return greys


def _aspect(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    factor = np.exp(rng.uniform(np.log(ASPECT[0]), np.log(ASPECT[1]), len(images)))
    greys = []
    for image, f in zip(images, factor):
        box = ink_box(image).astype(np.float32)
        size = (max(1, round(box.shape[1] * f * 2)), box.shape[0] * 2)   # at twice the size: little is lost
        wide = np.asarray(Image.fromarray(box, mode="F").resize(size, Image.Resampling.BILINEAR))
        greys.append(np.pad(np.clip(wide, 0, 1), 4))
    return greys
