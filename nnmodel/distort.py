"""Distorted copies of training images: what the network sees beyond the plain MNIST pixels.

Images are (n, 28, 28) (or rows of 784) in [0, 1]; every copy keeps its label. Seeded: the same seed
gives the same bytes.
  shift   each image moved one pixel in one of the 8 directions, zero-filled
"""
from __future__ import annotations

import numpy as np

KINDS = ("shift",)
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


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


def check_kinds(kinds) -> tuple[str, ...]:
    """The distortion names as a tuple; ValueError names an unknown one."""
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown distortion {unknown[0]!r}; choose from {', '.join(KINDS)}")
    return kinds


def with_distorted_copies(X: np.ndarray, y: np.ndarray, copies: int, kinds=("shift",), seed: int = 0,
                          side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """X (m, side*side) followed by `copies` distorted copies of it, labels repeated to match;
    copies=0 (or no kinds) returns X, y unchanged."""
    kinds = check_kinds(kinds)
    if copies <= 0 or not kinds:
        return X, y
    rng = np.random.default_rng(seed)
    images = X.reshape(-1, side, side)
    parts = [X]
    for _ in range(copies):
        parts.append(random_shifts(images, rng).reshape(len(X), -1))
    return np.concatenate(parts), np.tile(y, copies + 1)
