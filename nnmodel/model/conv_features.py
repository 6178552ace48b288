"""Convolutional features whose filters are learned without gradients (PCA on image patches, as in
PCANet): the first stage of the conv family (`nnmodel.model.conv`).

Images are (n, 28, 28) float32 in [0, 1], digit light on dark. With k filters of size x size:
  learn_filters  the k leading principal directions of random size x size patches, each patch's
                 mean removed first (so every filter sums to zero); sign fixed so that its largest
                 weight is positive: (k, size, size)
  features       valid correlation with each filter (z, (28 - size + 1) square), max-pooled pool x pool
                 (stride pool; a remainder row or column is dropped), then ReLU of +z and of -z:
                 2k maps of side s = (28 - size + 1) // pool, flattened (row, column, channel) to
                 (n, s * s * 2k). Channels 0..k-1 answer to the filters, k..2k-1 to the negated
                 filters. max-pool(relu(z)) = relu(max-pool(z)) and max-pool(relu(-z)) =
                 relu(-min-pool(z)), so each map is pooled once for its max and once for its min.
  input_gradient d(score)/d(image) through the pooling and the correlation, for one image, given
                 d(score)/d(features)
Computed in chunks of CHUNK images (one matrix product each), float32, on every core.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SIDE = 28
CHUNK = 512       # images per chunk: small enough that its patches stay in cache (measured fastest)


def learn_filters(images: np.ndarray, n_filters: int = 8, size: int = 5, n_patches: int = 100_000,
                  seed: int = 0) -> np.ndarray:
    """PCA filters (n_filters, size, size) float32 from n_patches random size x size patches of images
    (n, 28, 28) (an image and a position drawn at random for each patch, seeded)."""
    rng = np.random.default_rng([seed, 7])
    images = np.asarray(images, np.float32).reshape(-1, SIDE, SIDE)
    which = rng.integers(0, len(images), n_patches)
    r, c = rng.integers(0, SIDE - size + 1, (2, n_patches))
    offsets = np.arange(size)
    patches = images[which[:, None, None], (r[:, None] + offsets)[:, :, None], (c[:, None] + offsets)[:, None, :]]
    p = patches.reshape(n_patches, size * size).astype(np.float64)
    p -= p.mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(p.T @ p / n_patches)
    top = vectors[:, ::-1][:, :n_filters].T
    signs = np.sign(top[np.arange(len(top)), np.abs(top).argmax(axis=1)])
    return (top * signs[:, None]).reshape(n_filters, size, size).astype(np.float32)


def map_side(size: int, pool: int) -> int:
    """The side of a pooled map: (28 - size + 1) // pool."""
    return (SIDE - size + 1) // pool


def n_features(n_filters: int, size: int, pool: int) -> int:
    return map_side(size, pool) ** 2 * 2 * n_filters


def responses(images: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """z: the valid correlation of images (n, 28, 28) with filters (k, size, size): (n, h, h, k)."""
    k, size, _ = filters.shape
    patches = sliding_window_view(images, (size, size), axis=(1, 2))          # (n, h, h, size, size)
    h = SIDE - size + 1
    return (patches.reshape(-1, size * size) @ filters.reshape(k, -1).T).reshape(len(images), h, h, k)


def pooled_maps(images: np.ndarray, filters: np.ndarray, pool: int) -> np.ndarray:
    """The 2k pooled, rectified maps (n, s, s, 2k) of images (n, 28, 28) float32."""
    z = responses(images, filters)
    s = map_side(filters.shape[1], pool)
    windows = [z[:, i: s * pool: pool, j: s * pool: pool] for i in range(pool) for j in range(pool)]
    high, low = windows[0].copy(), windows[0].copy()
    for window in windows[1:]:  # pairwise maximum and minimum: faster than .max over two axes
        np.maximum(high, window, out=high)
        np.minimum(low, window, out=low)
    np.maximum(high, 0, out=high)
    np.negative(low, out=low)
    np.maximum(low, 0, out=low)
    return np.concatenate([high, low], axis=3)


def features(images: np.ndarray, filters: np.ndarray, pool: int, out: np.ndarray | None = None,
             threads: int | None = None) -> np.ndarray:
    """Features (n, n_features) float32 of images (n, 784) or (n, 28, 28), float in [0, 1] or uint8,
    chunk by chunk on `threads` threads (default: one per core), written into `out` when given."""
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    n = len(images)
    width = n_features(len(filters), filters.shape[1], pool)
    out = np.empty((n, width), np.float32) if out is None else out

    def work(start):
        block = images[start: start + CHUNK]
        block = block * np.float32(1 / 255) if block.dtype == np.uint8 else block.astype(np.float32, copy=False)
        out[start: start + len(block)] = pooled_maps(block, filters, pool).reshape(len(block), width)

    starts = range(0, n, CHUNK)
    threads = threads or len(os.sched_getaffinity(0))
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool_of_threads:
            list(pool_of_threads.map(work, starts))
    else:
        for start in starts:
            work(start)
    return out


def input_gradient(image: np.ndarray, filters: np.ndarray, pool: int, feature_gradient: np.ndarray) -> np.ndarray:
    """d(score)/d(image) (28, 28) float64 for one image (28, 28), given d(score)/d(features)
    (n_features,): back through the ReLUs, the max/min pooling (to the position that won each window)
    and the correlation. Exact wherever no two positions of a window tie."""
    k, size, _ = filters.shape
    z = responses(np.asarray(image, np.float32)[None], filters)[0].astype(np.float64)   # (h, h, k)
    s = map_side(size, pool)
    g = np.asarray(feature_gradient, np.float64).reshape(s, s, 2 * k)
    windows = z[: s * pool, : s * pool].reshape(s, pool, s, pool, k).transpose(0, 2, 1, 3, 4).reshape(s, s, -1, k)
    high_at, low_at = windows.argmax(axis=2), windows.argmin(axis=2)           # (s, s, k): winner in each window
    high = np.take_along_axis(windows, high_at[:, :, None], axis=2)[:, :, 0]
    low = np.take_along_axis(windows, low_at[:, :, None], axis=2)[:, :, 0]
    g_high = g[..., :k] * (high > 0)            # relu(max z): passes where the max is positive
    g_low = -g[..., k:] * (low < 0)             # relu(-min z): d/dz = -1 where the min is negative
    g_z = np.zeros_like(z)
    rows, cols = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    for at, grad in ((high_at, g_high), (low_at, g_low)):
        for c in range(k):
            dy, dx = np.divmod(at[:, :, c], pool)
            np.add.at(g_z[:, :, c], (rows * pool + dy, cols * pool + dx), grad[:, :, c])
    out = np.zeros((SIDE, SIDE))
    h = SIDE - size + 1
    for dy in range(size):            # the correlation's transpose: each filter tap spreads g_z back
        for dx in range(size):
            out[dy: dy + h, dx: dx + h] += g_z @ filters[:, dy, dx].astype(np.float64)
    return out


class Standardiser:
    """x -> (x - mean) * scale per feature, scale = 1 / max(std, floor) from training features."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean, self.scale = mean, scale

    @classmethod
    def fit(cls, F: np.ndarray, floor: float = 1e-2, chunk: int = 16384) -> Standardiser:
        total = np.zeros(F.shape[1], np.float64)
        squares = np.zeros(F.shape[1], np.float64)
        for start in range(0, len(F), chunk):
            block = F[start: start + chunk].astype(np.float64)
            total += block.sum(axis=0)
            squares += np.einsum("ij,ij->j", block, block)
        mean = total / len(F)
        std = np.sqrt(np.maximum(squares / len(F) - mean ** 2, 0))
        return cls(mean.astype(np.float32), (1 / np.maximum(std, floor)).astype(np.float32))

    def apply(self, F: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """F (float32) standardised in place, and returned."""
        for start in range(0, len(F), chunk):
            F[start: start + chunk] -= self.mean
            F[start: start + chunk] *= self.scale
        return F
