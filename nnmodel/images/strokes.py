"""Pen strokes traced from digit images: drawing them with a round pen, as a person (or the tests,
through the viewer) would, gives the stroke-drawn digits of the other-writers score.

`digit_strokes(image)` thins the digit to a one-pixel skeleton (Zhang-Suen), walks the skeleton into
polylines and scales them to canvas coordinates: what a person's pen would have followed.
"""
from __future__ import annotations

import itertools

import numpy as np

NEIGHBOURS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]  # clockwise from north


def _removal_tables() -> np.ndarray:
    """For each of Zhang-Suen's two sub-steps, whether a pixel goes, by the 8-bit code of its
    neighbours (bit k: NEIGHBOURS[k] is ink): (2, 256) bool."""
    codes = np.arange(256)
    p = [(codes >> k) & 1 for k in range(8)]
    count = sum(p)
    transitions = sum((p[k] == 0) & (p[(k + 1) % 8] == 1) for k in range(8))
    north, east, south, west = p[0], p[2], p[4], p[6]
    keep_shape = (count >= 2) & (count <= 6) & (transitions == 1)
    return np.stack([keep_shape & (north * east * south == 0) & (east * south * west == 0),
                     keep_shape & (north * east * west == 0) & (north * south * west == 0)])


REMOVE = _removal_tables()


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of boolean masks, (h, w) or a batch (n, h, w), to one-pixel-wide lines.
    Each sub-step looks up every pixel's fate by the 8-bit code of its neighbours, and only the images
    still changing are worked on."""
    single = mask.ndim == 2
    img = np.pad(np.asarray(mask, bool).reshape(-1, *mask.shape[-2:]), ((0, 0), (2, 2), (2, 2))).astype(np.uint8)
    h, w = img.shape[1:]
    active = np.arange(len(img))
    while len(active):
        changed = np.zeros(len(active), bool)
        for step in (0, 1):
            sub = img[active]
            code = np.zeros((len(active), h - 2, w - 2), np.uint8)
            for k, (dr, dc) in enumerate(NEIGHBOURS):
                code |= sub[:, 1 + dr: h - 1 + dr, 1 + dc: w - 1 + dc] << k
            remove = (sub[:, 1:-1, 1:-1] == 1) & REMOVE[step][code]
            hit = remove.any(axis=(1, 2))
            sub[:, 1:-1, 1:-1][remove] = 0
            img[active] = sub
            changed |= hit
        active = active[changed]
    out = img[:, 2:-2, 2:-2].astype(bool)
    return out[0] if single else out


def trace(skel: np.ndarray) -> list[list[tuple[int, int]]]:
    """Polylines of (row, col) points covering every skeleton pixel, starting from line ends."""
    points = {tuple(p) for p in np.argwhere(skel)}

    def around(p):
        return [(p[0] + dr, p[1] + dc) for dr, dc in sorted(NEIGHBOURS, key=lambda d: abs(d[0]) + abs(d[1]))
                if (p[0] + dr, p[1] + dc) in points]

    seen: set[tuple[int, int]] = set()
    strokes = []
    while len(seen) < len(points):
        todo = sorted(points - seen)
        ends = [p for p in todo if len(around(p)) == 1]
        start = ends[0] if ends else todo[0]
        stroke = [start]
        seen.add(start)
        while True:
            nxt = [q for q in around(stroke[-1]) if q not in seen]
            if not nxt:
                joined = [q for q in around(stroke[-1]) if len(stroke) < 2 or q != stroke[-2]]
                if joined and len(stroke) > 1:
                    stroke.append(joined[0])  # close the gap to the line this one meets
                break
            stroke.append(nxt[0])
            seen.add(nxt[0])
        strokes.append(stroke)
    return [s for s in strokes if len(s) > 1 or len(strokes) == 1]


def digit_strokes(image: np.ndarray, scale: float = 10, threshold: float = 0.5) -> list[list[tuple[int, int]]]:
    """Strokes (lists of canvas (x, y) points) tracing a 28x28 image (uint8 or [0, 1]), scaled by `scale`."""
    return many_digit_strokes(np.asarray(image)[None], scale, threshold)[0]


def many_digit_strokes(images: np.ndarray, scale: float = 10, threshold: float = 0.5) -> list[list]:
    """`digit_strokes` of every image (n, 28, 28), thinned together (one vectorised pass)."""
    images = np.asarray(images, dtype=np.float32)
    if images.max() > 1:
        images = images / 255
    return [[[(int(c * scale + scale / 2), int(r * scale + scale / 2)) for r, c in stroke] for stroke in trace(skel)]
            for skel in skeleton(images > threshold)]


def render(strokes, size: int = 280, width: int = 20) -> np.ndarray:
    """The strokes drawn with a round pen the way the viewer draws them: uint8 (size, size), ink 255."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    r = width / 2
    for stroke in strokes:
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            pen.line((x0, y0, x1, y1), fill=255, width=width)
        for x, y in stroke:
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(image)
