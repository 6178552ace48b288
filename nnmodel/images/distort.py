"""Distorted copies of training images: what the network sees beyond the plain MNIST pixels.

Images are (n, 28, 28) in [0, 1] (float) or 0-255 (uint8), digit light on dark; every copy keeps its
label. Kinds, combined in one pass per image:
  shift    one pixel in one of the 8 directions, zero-filled (the original default recipe's copies)
  affine   rotation +-ROTATION degrees, scale SCALE, shear +-SHEAR, translation +-TRANSLATE pixels
  elastic  Simard, Steinkraus and Platt (2003): uniform random displacement fields smoothed by a
           Gaussian of ELASTIC_SIGMA pixels and scaled by ELASTIC_ALPHA
  stroke   thinner or thicker strokes: a blend towards the 3x3-cross erosion or dilation
  blur     half of the images blended by a random amount towards a blur of about 1.4 pixels (a
           low-resolution scan or a soft pen), contrast restored
  style    writing styles MNIST's American writers seldom use, drawn onto their digits (so it needs
           the labels): the continental 1 (a flag from the top down to the left, sometimes a base)
           and the crossed 7 (a bar across the stem)
Geometric kinds become one sampling map, read with bilinear interpolation (zeros outside).
A copy may also name hands (nnmodel.images.hands: lowres, mouse, pen, slant, aspect): after its
deformations, each image of the copy is redrawn in one of them, chosen at random.
Seeded and deterministic: the random numbers of each block of BLOCK images come from
(seed, copy, block), so the bytes do not depend on how many threads or processes do the work.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

KINDS = ("shift", "affine", "elastic", "stroke", "blur", "style")
ROTATION = 12.0            # degrees, either way
SCALE = (0.85, 1.15)       # size factor
SHEAR = 0.25               # horizontal shear factor (slant), either way
TRANSLATE = 2.0            # pixels, either way, each axis
ELASTIC_ALPHA = 30.0       # displacement scale (Simard et al. used 34 with sigma 4 on 29x29 images)
ELASTIC_SIGMA = 4.0        # pixels: the smoothness of the displacement field
STROKE = 0.8               # strongest blend towards erosion (thinner) or dilation (thicker)
BLUR_KERNEL = np.array([1, 2, 3, 4, 3, 2, 1], np.float32) / 16   # separable: a Gaussian of ~1.4 pixels
FLAG = (0.9, 0.3, 0.5)     # continental 1s: share with a (long) flag; its reach as a share of the digit's height
BASE = (0.4, 0.15, 0.3)    # ... with a base: share; half its width as a share of the height
CROSS = (0.5, 0.15, 0.25)  # crossed 7s: share with a bar; half its width as a share of the height
PEN = (1.6, 2.6)           # width in pixels of the added strokes
FAINT = 0.125              # copies' pixels at or below this become 0, as preprocessing drops faint
                           # background (INK_THRESHOLD / 2): the copies stay as sparse as real inputs
BLOCK = 256                # images per random block and per work item (cache-sized)
SIDE = 28
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def check_kinds(kinds, hands_too: bool = False) -> tuple[str, ...]:
    """The distortion names as a tuple; ValueError names an unknown one (hands are known only with
    `hands_too`)."""
    from nnmodel.images.hands import HANDS

    kinds, known = tuple(kinds), KINDS + (HANDS if hands_too else ())
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise ValueError(f"unknown distortion {unknown[0]!r}; choose from {', '.join(known)}")
    return kinds


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (n, h, w) moved dy rows down and dx columns right, zero-filled (a new array)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        images[:, max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


def random_shifts(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image (n, h, w) moved one pixel in a random one of the 8 directions."""
    choice = rng.integers(0, len(OFFSETS), len(images))
    moved = np.empty_like(images)
    for k, (dy, dx) in enumerate(OFFSETS):
        rows = np.flatnonzero(choice == k)
        moved[rows] = shift_images(images[rows], dy, dx)
    return moved


def _smoothing_matrix(coarse: int = 7) -> np.ndarray:
    """(SIDE, coarse) Gaussian weights from a coarse noise grid to every pixel: G @ N @ G.T is
    noise N (coarse, coarse) smoothed by a Gaussian of ELASTIC_SIGMA pixels, at full size."""
    fine = np.arange(SIDE, dtype=np.float64)
    grid = np.linspace(0, SIDE - 1, coarse)
    weights = np.exp(-0.5 * ((fine[:, None] - grid[None, :]) / ELASTIC_SIGMA) ** 2)
    # the coarse grid is SIDE / coarse times sparser than pixels: scale so the field's spread matches
    # white pixel noise smoothed by the same Gaussian
    return (weights * np.sqrt(SIDE / coarse) / (np.sqrt(2 * np.pi) * ELASTIC_SIGMA)).astype(np.float32)


SMOOTH = _smoothing_matrix()
_CENTRE = np.float32((SIDE - 1) / 2)
_AXIS = np.arange(SIDE, dtype=np.float32) - _CENTRE       # pixel centres, relative to the image centre


def _uniform(rng: np.random.Generator, low: float, high: float, shape) -> np.ndarray:
    return rng.random(shape, dtype=np.float32) * np.float32(high - low) + np.float32(low)


def _sampling_map(n: int, kinds: tuple[str, ...], rng: np.random.Generator):
    """Where each output pixel reads its value: (rows, cols), each (n, SIDE, SIDE) float32, in the
    coordinates of the image padded by one pixel (so the image's first row is row 1)."""
    offset = _CENTRE + 1
    if "affine" in kinds:
        angle = np.radians(_uniform(rng, -ROTATION, ROTATION, n))
        scale = _uniform(rng, *SCALE, n)
        shear = _uniform(rng, -SHEAR, SHEAR, n)
        shift = _uniform(rng, -TRANSLATE, TRANSLATE, (2, n))
        # forward map: scale, then shear (slant), then rotate, then shift; an output pixel reads the
        # inverse image of its centre: rows = c x + d y + e, cols = a x + b y + f (x, y: its column, row)
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        a, b, c, d = cos + shear * sin, sin - shear * cos, -sin, cos
        e = offset - (c * shift[1] + d * shift[0])
        f = offset - (a * shift[1] + b * shift[0])
        rows = (c[:, None] * _AXIS)[:, None, :] + (d[:, None] * _AXIS + e[:, None])[:, :, None]
        cols = (a[:, None] * _AXIS)[:, None, :] + (b[:, None] * _AXIS + f[:, None])[:, :, None]
    else:
        rows = np.broadcast_to((_AXIS + offset)[None, :, None], (n, SIDE, SIDE))
        cols = np.broadcast_to((_AXIS + offset)[None, None, :], (n, SIDE, SIDE))
    if "elastic" in kinds:
        field = smooth_fields(_uniform(rng, -1, 1, (2 * n, SMOOTH.shape[1], SMOOTH.shape[1])))
        field *= np.float32(ELASTIC_ALPHA)
        rows = rows + field[:n]
        cols = cols + field[n:]
    return rows, cols


def smooth_fields(noise: np.ndarray) -> np.ndarray:
    """SMOOTH @ noise[i] @ SMOOTH.T for every coarse noise grid (m, k, k): (m, SIDE, SIDE), as two
    large matrix products rather than 2m small ones."""
    m, k, _ = noise.shape
    half = (noise.reshape(m * k, k) @ SMOOTH.T).reshape(m, k, SIDE)          # noise @ SMOOTH.T
    full = half.transpose(0, 2, 1).reshape(m * SIDE, k) @ SMOOTH.T           # (SMOOTH @ half).T
    return full.reshape(m, SIDE, SIDE).transpose(0, 2, 1)


def _resample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of images (n, SIDE, SIDE) float32 at (rows, cols) in padded coordinates
    (see _sampling_map; both are overwritten); zeros outside the image."""
    n, size = len(images), SIDE + 2
    padded = np.zeros((n, size, size), np.float32)   # a border of zeros: no bounds checks below
    padded[:, 1:-1, 1:-1] = images
    fr, fc = np.clip(rows, 0, size - 1, out=rows), np.clip(cols, 0, size - 1, out=cols)
    r0, c0 = np.floor(fr), np.floor(fc)
    np.minimum(r0, size - 2, out=r0)
    np.minimum(c0, size - 2, out=c0)
    fr -= r0                              # fractions, float32 throughout (no float64 temporaries)
    fc -= c0
    r0 *= size
    r0 += c0
    index = r0.astype(np.int32)
    index += (np.arange(n, dtype=np.int32) * (size * size))[:, None, None]
    flat = padded.ravel()
    top_left = np.take(flat, index)
    index += 1
    top_right = np.take(flat, index)
    index += size
    bottom_right = np.take(flat, index)
    index -= 1
    bottom_left = np.take(flat, index)
    top_right -= top_left
    top_right *= fc
    top_left += top_right                 # the top row, interpolated
    bottom_right -= bottom_left
    bottom_right *= fc
    bottom_left += bottom_right           # the bottom row
    bottom_left -= top_left
    bottom_left *= fr
    top_left += bottom_left
    return top_left


def _stroke_width(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes made thicker (the first half of the images) or thinner (the second half; the images
    come in random order) by a random blend towards the dilation or erosion over the 3x3 cross; in place."""
    amount = _uniform(rng, 0, STROKE, (len(images), 1, 1))
    half = (len(images) + 1) // 2
    for grow, part, share in ((np.maximum, images[:half], amount[:half]), (np.minimum, images[half:], amount[half:])):
        padded = np.pad(part, ((0, 0), (1, 1), (1, 1)))
        target = grow(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1])
        grow(target, padded[:, 1:-1, :-2], out=target)
        grow(target, padded[:, 1:-1, 2:], out=target)
        grow(target, part, out=target)
        target -= part
        target *= share
        part += target
    return images


def _blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image blended by a random amount (up to 1) towards its blur by the separable kernel
    [1, 2, 3, 4, 3, 2, 1] / 16 (two boxes of 4 per axis: about a Gaussian of 1.4 pixels), its
    brightest pixel kept as bright."""
    padded = np.pad(images, ((0, 0), (3, 3), (3, 3)))
    box = padded[:, :-3] + padded[:, 1:-2]        # boxes of 4 along rows, twice
    box += padded[:, 2:-1]
    box += padded[:, 3:]
    rows = box[:, :-3] + box[:, 1:-2]
    rows += box[:, 2:-1]
    rows += box[:, 3:]                              # (n, SIDE, SIDE + 6)
    box = rows[:, :, :-3] + rows[:, :, 1:-2]      # then along columns, twice
    box += rows[:, :, 2:-1]
    box += rows[:, :, 3:]
    soft = box[:, :, :-3] + box[:, :, 1:-2]
    soft += box[:, :, 2:-1]
    soft += box[:, :, 3:]                           # (n, SIDE, SIDE), 256 times the blur
    soft *= images.max(axis=(1, 2), keepdims=True) / np.maximum(soft.max(axis=(1, 2), keepdims=True), 1e-6)
    soft -= images
    soft *= _uniform(rng, 0, 1, (len(images), 1, 1))
    soft += images
    return soft


def _segments(images: np.ndarray, starts: np.ndarray, ends: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """images (m, SIDE, SIDE) with a straight stroke from starts[i] to ends[i] ((m, 2) as row, col) of
    widths[i] pixels drawn on each (anti-aliased, as bright as the image's brightest pixel)."""
    grid = np.stack(np.mgrid[0:SIDE, 0:SIDE], axis=-1).astype(np.float32)          # (SIDE, SIDE, 2)
    direction = ends - starts
    length2 = np.maximum((direction ** 2).sum(axis=1), 1e-6)
    rel = grid[None] - starts[:, None, None, :]                                        # (m, SIDE, SIDE, 2)
    t = np.clip((rel * direction[:, None, None, :]).sum(-1) / length2[:, None, None], 0, 1)
    distance = np.sqrt(((rel - t[..., None] * direction[:, None, None, :]) ** 2).sum(-1))
    ink = np.clip(widths[:, None, None] / 2 + 0.5 - distance, 0, 1) * images.max(axis=(1, 2), keepdims=True)
    return np.maximum(images, ink)


def _styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new array: some 1s given a flag (and a base), some 7s a crossbar; others unchanged."""
    out = images.copy()
    ink = images > 0.3
    rows_with_ink = ink.any(axis=2)
    top = rows_with_ink.argmax(axis=1)
    bottom = SIDE - 1 - rows_with_ink[:, ::-1].argmax(axis=1)
    height = (bottom - top + 1).astype(np.float32)
    cols = np.arange(SIDE, dtype=np.float32)

    def centre(which, row):  # mean ink column in the given row of each chosen image (0 where it has none)
        line = ink[which, np.clip(np.round(row).astype(int), 0, SIDE - 1)]
        return (line * cols).sum(axis=1) / np.maximum(line.sum(axis=1), 1)

    draw = rng.random((3, len(images)))
    size = rng.random((3, len(images))).astype(np.float32)
    pen = _uniform(rng, *PEN, len(images))
    has_ink = rows_with_ink.any(axis=1)
    for kind, chosen in (("flag", (labels == 1) & (draw[0] < FLAG[0])), ("base", (labels == 1) & (draw[1] < BASE[0])),
                         ("cross", (labels == 7) & (draw[2] < CROSS[0]))):
        chosen = np.flatnonzero(chosen & has_ink & (height >= 8))
        if not len(chosen):
            continue
        h = height[chosen]
        if kind == "flag":
            start = np.stack([top[chosen], centre(chosen, top[chosen])], axis=1).astype(np.float32)
            reach = h * (FLAG[1] + (FLAG[2] - FLAG[1]) * size[0, chosen])
            end = start + np.stack([reach * 0.75, -reach], axis=1)
        else:
            spec, row = (BASE, bottom[chosen].astype(np.float32)) if kind == "base" else \
                (CROSS, top[chosen] + h * (0.45 + 0.1 * size[2, chosen]))
            mid = centre(chosen, row)
            half = h * (spec[1] + (spec[2] - spec[1]) * size[1 if kind == "base" else 2, chosen])
            start = np.stack([row, mid - half], axis=1)
            end = np.stack([row, mid + half], axis=1)
        out[chosen] = _segments(out[chosen], start, end, pen[chosen])
    return out


def distort_block(images: np.ndarray, kinds: tuple[str, ...], rng: np.random.Generator,
                  labels: np.ndarray | None = None) -> np.ndarray:
    """One distorted copy of images (n, SIDE, SIDE) float32 in [0, 1] (labels (n,) for "style")."""
    if "style" in kinds:
        if labels is None:
            raise ValueError("the style distortion needs the images' labels")
        images = _styles(images, labels, rng)
    if kinds == ("shift",):
        return random_shifts(images, rng)
    if "affine" in kinds or "elastic" in kinds:
        out = _resample(images, *_sampling_map(len(images), kinds, rng))
    elif "shift" in kinds:
        out = random_shifts(images, rng)
    else:
        out = images.copy()
    if "stroke" in kinds:
        out = _stroke_width(out, rng)
    if "blur" in kinds:  # half of each block: with stroke, the thicker half (like a low-resolution scan)
        half = (len(out) + 1) // 2
        out[:half] = _blur(out[:half], rng)
    np.clip(out, 0, 1, out=out)
    out *= out > FAINT
    return out


def distorted_copies(images: np.ndarray, copies, kinds=("affine", "elastic", "stroke"), seed: int = 0,
                     threads: int | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """Distorted copies of images (n, SIDE, SIDE), uint8 0-255 or float in [0, 1], copy by copy:
    (len(specs) * n, SIDE, SIDE) of the same dtype. `copies`: how many, each made with `kinds`, or a
    list of each copy's kinds (deformations combined; hands: each image redrawn in one of them). Same
    seed, same bytes, whatever `threads`. `labels` (n,) are needed for the "style" kind."""
    specs = [tuple(kinds)] * copies if isinstance(copies, int) else [tuple(spec) for spec in copies]
    specs = [check_kinds(spec, hands_too=True) for spec in specs]
    n = len(images)
    out = np.empty((len(specs) * n, SIDE, SIDE), images.dtype)
    work = [(copy, start) for copy in range(len(specs)) for start in range(0, n, BLOCK)]

    def block_of(item):
        copy, start = item
        return (images[start: start + BLOCK], specs[copy], seed, copy, start,
                None if labels is None else labels[start: start + BLOCK])

    def store(item, result):
        copy, start = item
        target = out[copy * n + start: copy * n + start + len(result)]
        target[...] = np.rint(result * 255) if out.dtype == np.uint8 else result

    threads = threads or min(len(work), os.cpu_count() or 1)
    if any(set(spec) - set(KINDS) for spec in specs):  # hands: Python-heavy drawing, one process per core
        with hand_pool(threads) as pool:
            for item, result in zip(work, pool.map(copy_block, *zip(*map(block_of, work)))):
                store(item, result)
        return out
    with threadpool_limits(1):  # the blocks already fill the cores: BLAS threads would only fight them
        if threads <= 1:
            for item in work:
                store(item, copy_block(*block_of(item)))
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda item: store(item, copy_block(*block_of(item))), work))
    return out


def copy_block(block: np.ndarray, spec: tuple[str, ...], seed: int, copy: int, start: int,
               labels: np.ndarray | None) -> np.ndarray:
    """One copy of a block of images (uint8 or float) by `spec`: float32 in [0, 1]. Its random numbers
    come from (seed, copy, block): the deformations', then the hands'."""
    from nnmodel.images import hands

    block = block * np.float32(1 / 255) if block.dtype == np.uint8 else block.astype(np.float32, copy=False)
    rng = np.random.default_rng([seed, copy, start // BLOCK])
    deformations = tuple(k for k in spec if k in KINDS)
    out = distort_block(block, deformations, rng, labels) if deformations else block.copy()
    drawn_in = [k for k in spec if k in hands.HANDS]
    if drawn_in:
        hand_rng = np.random.default_rng([seed, copy, start // BLOCK, 2])
        choice = hand_rng.integers(0, len(drawn_in), len(out))
        for h, hand in enumerate(drawn_in):
            rows = np.flatnonzero(choice == h)
            out[rows] = hands.redraw(out[rows], hand, hand_rng)
    return out


def hand_pool(workers: int):
    """Processes for drawing copies in other hands (forked from a clean server that has this module
    loaded: the calling process may run threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nnmodel.images.distort", "nnmodel.images.hands"])
    return ProcessPoolExecutor(max(1, workers), mp_context=context)
