"""Any image -> the 28x28 MNIST form the network was trained on (shared by batch prediction and GUI).

MNIST form: grey, digit light on a dark background, values in [0, 1]; the digit's bounding box scaled
(keeping its aspect ratio, anti-aliased) to fit a 20x20 box, then placed in 28x28 so that its centre
of mass sits at the centre. Steps, in order (after decoding): inverted when the digit is dark on
light (decided from the border); contrast stretched; faint background dropped; blank images flagged;
cropped, fitted, centred.

Files, bytes and PIL images become grey levels in `nnmodel.images.decode` (safely: only regular
files, no decompression bombs); `preprocess_files` decodes many files and preprocesses them in
batches, so a folder of same-sized scans costs a few NumPy calls per batch rather than per image.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nnmodel.errors import DataError
from nnmodel.images.decode import as_grey
from nnmodel.images.paper import MIN_CONTRAST, PAPER_CODE, ink_of, paper_departure

INK_THRESHOLD = 0.25              # a pixel is ink when its stretched value is above this
BATCH_PIXELS = 500_000           # decoded pixels preprocessed together (2 MB as float32: stays in cache)
MIN_INK_PIXELS = 4                # fewer ink pixels than this (at working size) is "blank"
LANCZOS_SUPPORT = 3.0             # Pillow's Lanczos filter (fit_in_20x20 resizes with it)
GROUP_FROM = 16                   # from this many same-shape images, copy boxes by groups (else one by one)
ROUGH_PAPER = 12                  # grey levels: paper rougher than this (after cleaning) is not an empty page
CLEAN_FROM = 100                  # pixels: photos and scans this big on their short side have their paper
                                  # cleaned first (smaller crops are mostly digit: their strokes would go too)


@dataclass
class Preprocessed:
    """pixels: float32 (28, 28) in [0, 1], digit light on dark (zeros when blank); aspect: the ink's
    width over its height before scaling (several digits side by side make it wide)."""

    pixels: np.ndarray
    blank: bool
    aspect: float = 1.0


def preprocess_greys(greys: list[np.ndarray]) -> list[Preprocessed]:
    """Grey images (h, w), uint8 0-255 or float in [0, 1], of any polarity -> MNIST form, in order.

    Images of the same shape are processed together as one (n, h, w) array, so a folder of
    same-sized scans costs a few NumPy calls per batch rather than per image.
    """
    results: list[Preprocessed | None] = [None] * len(greys)
    groups: dict[tuple, list[int]] = {}
    greys = [clean_paper(g) if min(g.shape) >= CLEAN_FROM else g for g in greys]
    for i, grey in enumerate(greys):
        groups.setdefault((grey.shape, grey.dtype == np.uint8), []).append(i)
    for (_, is_uint8), indices in groups.items():
        stack = np.stack([greys[i] for i in indices])
        stack = stack * np.float32(1 / 255) if is_uint8 else stack.astype(np.float32, copy=False)
        for i, result in zip(indices, _preprocess_stack(stack)):
            results[i] = result
    return results


def clean_paper(grey: np.ndarray) -> np.ndarray:
    """A photo's or scan's paper taken away, as `--numbers` takes it away (nnmodel.images.paper's
    ink_strength: uneven light, shadows, grey paper and blotches are paper; what stands above its
    noise is ink): uint8 (h, w), ink light on black. When no ink stands out: all black (blank) if
    what is left of the paper is smooth (an empty page, lit unevenly or shadowed), else the image
    as it was (noise, a texture: the model says what that is)."""
    if grey.dtype != np.uint8:
        grey = (np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)
    residual = paper_departure(grey)  # worked out once: the ink, or what is left of the paper
    ink = ink_of(residual)
    if ink is None:
        left = np.asarray(residual, np.float32)
        return np.zeros_like(grey) if left.std() < ROUGH_PAPER else grey
    departure, _, faint = ink
    return np.where(departure > faint, departure - np.uint8(PAPER_CODE), 0).astype(np.uint8)


def _preprocess_stack(g: np.ndarray) -> list[Preprocessed]:
    """Same-shape grey images (n, h, w) -> MNIST form (see the module docstring for the steps)."""
    n, h, w = g.shape
    border = np.concatenate([g[:, 0], g[:, -1], g[:, :, 0], g[:, :, -1]], axis=1)
    background = np.median(border, axis=1)
    invert = background > 0.5  # a light background: the digit is dark on light
    g = np.where(invert[:, None, None], 1 - g, g)
    background = np.where(invert, 1 - background, background)
    flat = g.reshape(n, -1)
    top = np.percentile(flat, 99.9, axis=1) if h * w > 1000 else flat.max(axis=1)
    contrast = top - background
    blank = contrast < MIN_CONTRAST
    stretched = np.clip((g - background[:, None, None]) / np.maximum(contrast, 1e-6)[:, None, None], 0, 1)
    ink = stretched > INK_THRESHOLD
    blank |= ink.sum(axis=(1, 2)) < MIN_INK_PIXELS
    stretched[stretched <= INK_THRESHOLD / 2] = 0  # faint background noise around the digit
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    r0, r1 = rows.argmax(axis=1), h - rows[:, ::-1].argmax(axis=1)
    c0, c1 = cols.argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
    crops = np.stack([r1 - r0, c1 - c0], axis=1)  # (n, 2) height, width of each digit's box
    sizes = np.maximum(1, np.round(crops * (20.0 / crops.max(axis=1, keepdims=True)))).astype(np.intp)
    sizes[blank] = 1
    boxes = digit_boxes(stretched, r0, c0, crops, sizes, blank)
    out = place_in_28x28(boxes, *mass_centred_offsets(boxes, sizes))
    aspect = (crops[:, 1] / np.maximum(crops[:, 0], 1)).tolist()
    return [Preprocessed(out[i], bool(blank[i]), aspect[i]) for i in range(n)]


def digit_boxes(images: np.ndarray, tops: np.ndarray, lefts: np.ndarray, crops: np.ndarray, sizes: np.ndarray,
                blank: np.ndarray) -> np.ndarray:
    """(n, 20, 20): each digit's box (crops[i] = height, width, from row tops[i], column lefts[i] of
    images (n, h, w)) scaled to sizes[i] and put in the top-left corner; zeros for blank images.
    Boxes already 20 on their longer side are copied as they are, by groups sharing an offset."""
    n = len(images)
    boxes, to_resize = np.zeros((n, 20, 20), np.float32), ~blank
    if n >= GROUP_FROM:
        as_is = ~blank & (sizes == crops).all(axis=1)
        for (top, left), members in group_by(np.stack([tops, lefts], axis=1)[as_is], np.flatnonzero(as_is)):
            window = images[members, top: top + 20, left: left + 20]
            boxes[members, : window.shape[1], : window.shape[2]] = window
        boxes *= (np.arange(20) < crops[:, :1])[:, :, None] & (np.arange(20) < crops[:, 1:])[:, None, :]
        to_resize &= ~as_is
    for i in np.flatnonzero(to_resize):
        box = fit_in_20x20(images[i, tops[i]: tops[i] + crops[i, 0], lefts[i]: lefts[i] + crops[i, 1]])
        boxes[i, : box.shape[0], : box.shape[1]] = box
    return boxes


def place_in_28x28(boxes: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
    """(n, 28, 28) with boxes (n, 20, 20) placed at (tops[i], lefts[i]); a box's zero padding may
    fall outside the canvas and is dropped."""
    out = np.zeros((len(boxes), 28, 28), np.float32)
    if len(boxes) >= GROUP_FROM:
        for (top, left), members in group_by(np.stack([tops, lefts], axis=1), np.arange(len(boxes))):
            out[members, top: top + 20, left: left + 20] = boxes[members, : 28 - top, : 28 - left]
    else:
        for i, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
            out[i, top: top + 20, left: left + 20] = boxes[i, : 28 - top, : 28 - left]
    return out


def group_by(keys: np.ndarray, members: np.ndarray):
    """(key, members having it) for each distinct pair in keys (m, 2) of non-negative integers;
    members: (m,) indices. Lets images that share an offset be copied with one slice."""
    if not len(members):
        return
    codes = keys[:, 0] * (int(keys[:, 1].max()) + 1) + keys[:, 1]
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])).tolist()
    for lo, hi in zip(starts, [*starts[1:], len(order)]):
        yield tuple(keys[order[lo]].tolist()), members[order[lo:hi]]


def fit_in_20x20(crop: np.ndarray) -> np.ndarray:
    """Scale a cropped digit (h, w) so its longer side is 20 pixels, keeping the aspect ratio."""
    height, width = crop.shape
    scale = 20.0 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return crop
    resized = Image.fromarray(crop, mode="F").resize(size, Image.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized), 0, 1)


def fit_many_in_20x20(inks: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """(n, 20, 20) float32: each ink (h <= height, w <= width) stretched to [0, 1] with values up to
    INK_THRESHOLD / 2 dropped, cut to its box at INK_THRESHOLD and Lanczos-scaled so that its longer
    side is 20 pixels, in the top-left corner: what `preprocess_greys` and `fit_in_20x20` do to one
    image, for a stack at once, as matrix products with Pillow's own Lanczos weights (the digits of a
    number are many small crops; resizing each in Pillow would cost more than reading them)."""
    stack = np.zeros((len(inks), height, width), np.float32)
    for i, ink in enumerate(inks):
        stack[i, : ink.shape[0], : ink.shape[1]] = ink
    stack /= np.maximum(stack.max(axis=(1, 2), keepdims=True), 1e-6)
    stack[stack <= INK_THRESHOLD / 2] = 0
    ink = stack > INK_THRESHOLD
    (top, bottom), (left, right) = first_last(ink.any(axis=2)), first_last(ink.any(axis=1))
    heights, widths = bottom - top, right - left
    longer = np.maximum(np.maximum(heights, widths), 1)
    rows = resampling_matrices(top, heights, np.round(heights * 20 / longer).astype(int), height)
    cols = resampling_matrices(left, widths, np.round(widths * 20 / longer).astype(int), width)
    return np.clip(rows @ stack @ cols.transpose(0, 2, 1), 0, 1)


def first_last(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True of each row of rows (n, m) and one past the last (0, 0 when none)."""
    first = rows.argmax(axis=1)
    return first, np.where(rows.any(axis=1), rows.shape[1] - rows[:, ::-1].argmax(axis=1), first)


def resampling_matrices(starts: np.ndarray, sizes: np.ndarray, targets: np.ndarray, padded: int) -> np.ndarray:
    """(n, 20, padded) float32: matrix k makes targets[k] output pixels from input pixels starts[k]
    to starts[k] + sizes[k] (rows past targets[k] are zero)."""
    out = np.zeros((len(sizes), 20, padded), np.float32)
    for k, (start, size, target) in enumerate(zip(starts.tolist(), sizes.tolist(), targets.tolist())):
        if size:  # a blank glyph keeps a zero matrix
            out[k, : max(target, 1), start: start + size] = lanczos_matrix(size, max(target, 1))
    return out


@functools.lru_cache(maxsize=4096)
def lanczos_matrix(size: int, target: int) -> np.ndarray:
    """(target, size) weights resampling `size` pixels to `target` exactly as Pillow's Image.resize
    with the Lanczos filter does (support widened when reducing, normalised over pixels inside)."""
    scale = size / target
    widen = max(scale, 1.0)
    support = LANCZOS_SUPPORT * widen
    centre = (np.arange(target)[:, None] + 0.5) * scale
    pixel = np.arange(size)[None, :]
    inside = (pixel >= np.floor(centre - support + 0.5)) & (pixel < np.floor(centre + support + 0.5))
    x = (pixel - centre + 0.5) / widen
    weights = np.where(inside & (np.abs(x) < LANCZOS_SUPPORT), np.sinc(x) * np.sinc(x / LANCZOS_SUPPORT), 0.0)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def mass_centred_offsets(boxes: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-left offsets that put each box's centre of mass at pixel (14, 14) of a 28x28 canvas, as
    MNIST does, clipped so the box (sizes (n, 2) = height, width) stays inside. boxes: (n, 20, 20)."""
    total = np.maximum(boxes.sum(axis=(1, 2)), 1e-12)
    cy = boxes.sum(axis=2) @ np.arange(20) / total
    cx = boxes.sum(axis=1) @ np.arange(20) / total
    tops = np.clip(np.round(14 - cy), 0, 28 - sizes[:, 0]).astype(np.intp)
    lefts = np.clip(np.round(14 - cx), 0, 28 - sizes[:, 1]).astype(np.intp)
    return tops, lefts


def preprocess_image(image: Image.Image | np.ndarray | str | os.PathLike | bytes) -> Preprocessed:
    """The one entry point: a file path, bytes, PIL image or grey array -> MNIST form (28x28)."""
    return preprocess_greys([as_grey(image)])[0]


def preprocess_files(paths: list[str], max_batch_pixels: int = BATCH_PIXELS) -> list[Preprocessed | DataError]:
    """Many files at once (same result as preprocess_image on each); a bad file gives its DataError.

    Decoded images are preprocessed in batches of at most `max_batch_pixels` grey pixels, so memory
    stays bounded however many (or however large) the files are."""
    results: list[Preprocessed | DataError] = []
    greys: list[np.ndarray] = []
    pending = 0

    def flush():
        nonlocal pending
        done = preprocess_greys([g for g in greys if g is not None])
        it = iter(done)
        results.extend(next(it) if g is not None else None for g in greys)
        greys.clear()
        pending = 0

    errors: dict[int, DataError] = {}
    for i, path in enumerate(paths):
        try:
            grey = as_grey(path)
        except DataError as exc:
            errors[i], grey = exc, None
        except Exception as exc:  # a decoder's own failure is this file's problem, not the batch's
            errors[i], grey = DataError(f"{path}: cannot decode ({type(exc).__name__}: {exc})"), None
        greys.append(grey)
        pending += 0 if grey is None else grey.size
        if pending >= max_batch_pixels:
            flush()
    flush()
    return [errors.get(i, result) for i, result in enumerate(results)]
