"""Convolutional features whose filters are learned without gradients (PCA on patches, as in PCANet):
the first stages of the conv family (`nnmodel.model.conv`).

Maps are (n, h, w, c) float32 (images: (n, 28, 28, 1), in [0, 1], digit light on dark). A stage with
k filters of size x size (over all c channels of its input) does:
  responses   valid correlation: z (n, h - size + 1, w - size + 1, k)
  pooling     max- and min-pooled pool x pool (stride pool; a remainder row or column is dropped), then
              ReLU of the max and of minus the min: 2k maps of side (h - size + 1) // pool; channels
              0..k-1 answer to the filters, k..2k-1 to the negated filters (relu(max z) and relu(-min z)
              are the max-pools of relu(z) and relu(-z): each map is pooled once for its max and once for
              its min).
Stage 1 reads the image; stage 2 (optional, PCANet-2-like) reads stage 1's maps. The features are the
last stage's maps flattened (row, column, channel).

learn_filters  the k leading principal directions of random patches, each patch's mean removed first
               (so every filter sums to zero), sign fixed so that its largest weight is positive
stage_backward d(score)/d(a stage's input) from d(score)/d(its output), through the pooling (to the
               position that won each window) and the correlation: the exact input gradient
Computed in chunks of CHUNK images (one matrix product per stage per chunk), float32, on every core.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

SIDE = 28
CHUNK = 128       # images per chunk: small enough that its patches stay in cache (measured fastest on 2 threads)


def patches(maps: np.ndarray, size: int) -> np.ndarray:
    """All size x size patches of maps (n, h, w, c) as rows (n * h' * w', size * size * c), laid out
    (row, column, channel) like a stage's filters."""
    view = sliding_window_view(maps, (size, size), axis=(1, 2))       # (n, h', w', c, size, size)
    return view.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * maps.shape[3])


def pca_filters(rows: np.ndarray, n_filters: int) -> np.ndarray:
    """The leading n_filters principal directions (n_filters, d) float32 of patches (m, d), each
    patch's mean removed first; sign fixed so each filter's largest-magnitude weight is positive."""
    p = rows.astype(np.float64)
    p -= p.mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(p.T @ p / len(p))
    top = vectors[:, ::-1][:, :n_filters].T
    signs = np.sign(top[np.arange(len(top)), np.abs(top).argmax(axis=1)])
    return (top * signs[:, None]).astype(np.float32)


def learn_filters(maps: np.ndarray, n_filters: int, size: int, n_patches: int, seed: int = 0) -> np.ndarray:
    """PCA filters (n_filters, size, size, c) from n_patches random size x size patches of maps
    (n, h, w, c) (a map and a position drawn at random for each patch, seeded)."""
    rng = np.random.default_rng([seed, 7, size, maps.shape[3]])
    rows = random_patches(maps, size, n_patches, rng)
    return pca_filters(rows, n_filters).reshape(n_filters, size, size, maps.shape[3])


def random_patches(maps: np.ndarray, size: int, n_patches: int, rng: np.random.Generator) -> np.ndarray:
    """n_patches size x size patches of maps (n, h, w, c), each from a map and a position drawn with
    rng, as rows (n_patches, size * size * c)."""
    n, h, w, c = maps.shape
    if n == 0 or n_patches == 0:
        return np.zeros((0, size * size * c), maps.dtype)
    which = rng.integers(0, n, n_patches)
    r, col = rng.integers(0, h - size + 1, n_patches), rng.integers(0, w - size + 1, n_patches)
    offsets = np.arange(size)
    rows = maps[which[:, None, None], (r[:, None] + offsets)[:, :, None], (col[:, None] + offsets)[:, None, :]]
    return rows.reshape(n_patches, size * size * c)


def responses(maps: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """z: the valid correlation of maps (n, h, w, c) with filters (k, size, size, c): (n, h', w', k)."""
    k, size = filters.shape[:2]
    n, h, w, _ = maps.shape
    z = patches(maps, size) @ filters.reshape(k, -1).T
    return z.reshape(n, h - size + 1, w - size + 1, k)


def pooled(maps: np.ndarray, filters: np.ndarray, pool: int) -> np.ndarray:
    """One stage: the 2k pooled, rectified maps (n, s, s, 2k) of maps (n, h, w, c) float32."""
    z = responses(maps, filters)
    s_h, s_w = z.shape[1] // pool, z.shape[2] // pool
    windows = [z[:, i: s_h * pool: pool, j: s_w * pool: pool] for i in range(pool) for j in range(pool)]
    high, low = windows[0].copy(), windows[0].copy()
    for window in windows[1:]:  # pairwise maximum and minimum: faster than .max over two axes
        np.maximum(high, window, out=high)
        np.minimum(low, window, out=low)
    np.maximum(high, 0, out=high)
    np.negative(low, out=low)
    np.maximum(low, 0, out=low)
    return np.concatenate([high, low], axis=3)


def stage_maps(images: np.ndarray, stages: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """The maps after each stage [(filters, pool), ...] of images (n, 28, 28) float32: [stage 1's, ...]."""
    maps, out = images.reshape(-1, SIDE, SIDE, 1), []
    for filters, pool in stages:
        maps = pooled(maps, filters, pool)
        out.append(maps)
    return out


def output_shape(stages_shape: list[tuple[int, int, int]], side: int = SIDE) -> tuple[int, int, int]:
    """(s, s, channels) of the last stage, for stages given as (filters, size, pool)."""
    channels = 1
    for n_filters, size, pool in stages_shape:
        side, channels = (side - size + 1) // pool, 2 * n_filters
    return side, side, channels


def features(images: np.ndarray, stages: list[tuple[np.ndarray, int]], out: np.ndarray | None = None,
             threads: int | None = None) -> np.ndarray:
    """Features (n, n_features) float32 of images (n, 784) or (n, 28, 28), float in [0, 1] or uint8:
    the last stage's maps flattened, computed chunk by chunk on `threads` threads (default: one per
    core), written into `out` when given."""
    images = np.asarray(images).reshape(-1, SIDE, SIDE)
    n = len(images)
    shape = output_shape([(f.shape[0], f.shape[1], pool) for f, pool in stages])
    width = int(np.prod(shape))
    out = np.empty((n, width), np.float32) if out is None else out

    def work(start):
        block = images[start: start + CHUNK]
        block = block * np.float32(1 / 255) if block.dtype == np.uint8 else block.astype(np.float32, copy=False)
        out[start: start + len(block)] = stage_maps(block, stages)[-1].reshape(len(block), width)

    starts = range(0, n, CHUNK)
    threads = threads or len(os.sched_getaffinity(0))
    if threads > 1 and len(starts) > 1:  # the chunks fill the cores: BLAS threads inside would only fight them
        with threadpool_limits(1), ThreadPoolExecutor(min(threads, len(starts))) as pool_of_threads:
            list(pool_of_threads.map(work, starts))
    else:
        for start in starts:
            work(start)
    return out


def stage_backward(maps_in: np.ndarray, filters: np.ndarray, pool: int, grad_out: np.ndarray) -> np.ndarray:
    """d(score)/d(maps_in) (h, w, c) float64 for one input of a stage (h, w, c), given d(score)/d(its
    output maps) (s, s, 2k): back through the ReLUs, the max/min pooling (to the position that won
    each window) and the correlation. Exact wherever no two positions of a window tie."""
    k, size = filters.shape[:2]
    z = responses(np.asarray(maps_in, np.float32)[None], filters)[0].astype(np.float64)   # (h', w', k)
    s_h, s_w = z.shape[0] // pool, z.shape[1] // pool
    g = np.asarray(grad_out, np.float64).reshape(s_h, s_w, 2 * k)
    windows = z[: s_h * pool, : s_w * pool].reshape(s_h, pool, s_w, pool, k).transpose(0, 2, 1, 3, 4) \
        .reshape(s_h, s_w, pool * pool, k)
    high_at, low_at = windows.argmax(axis=2), windows.argmin(axis=2)           # (s, s, k): each window's winner
    high = np.take_along_axis(windows, high_at[:, :, None], axis=2)[:, :, 0]
    low = np.take_along_axis(windows, low_at[:, :, None], axis=2)[:, :, 0]
    g_z = np.zeros_like(z)
    rows, cols = np.meshgrid(np.arange(s_h), np.arange(s_w), indexing="ij")
    channel = np.arange(k)[None, None, :]
    for at, grad in ((high_at, g[..., :k] * (high > 0)),      # relu(max z): passes where the max is positive
                     (low_at, -g[..., k:] * (low < 0))):      # relu(-min z): d/dz = -1 where the min is negative
        dy, dx = np.divmod(at, pool)
        np.add.at(g_z, ((rows * pool)[..., None] + dy, (cols * pool)[..., None] + dx, channel), grad)
    h, w = z.shape[:2]
    out = np.zeros(np.asarray(maps_in).shape)
    f = filters.astype(np.float64)
    for dy in range(size):            # the correlation's transpose: each filter tap spreads g_z back
        for dx in range(size):
            out[dy: dy + h, dx: dx + w] += g_z @ f[:, dy, dx, :]
    return out


class Standardiser:
    """x -> (x - mean) * scale per feature, scale = 1 / max(std, floor) from training features."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean, self.scale = mean, scale

    @classmethod
    def fit(cls, F: np.ndarray, floor: float = 1e-2) -> Standardiser:
        return cls.from_sums(*sums(F), floor=floor)

    @classmethod
    def from_sums(cls, count: int, total: np.ndarray, squares: np.ndarray, floor: float = 1e-2) -> Standardiser:
        """From the number of rows, each feature's sum and sum of squares (float64), as `sums` gives."""
        mean = total / max(count, 1)
        std = np.sqrt(np.maximum(squares / max(count, 1) - mean ** 2, 0))
        return cls(mean.astype(np.float32), (1 / np.maximum(std, floor)).astype(np.float32))

    def applied(self, F: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """F (float32) standardised, as a new array."""
        out = np.empty_like(F)
        for start in range(0, len(F), chunk):
            np.subtract(F[start: start + chunk], self.mean, out=out[start: start + chunk])
            out[start: start + chunk] *= self.scale
        return out

    def apply(self, F: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """F (float32) standardised in place, and returned."""
        for start in range(0, len(F), chunk):
            F[start: start + chunk] -= self.mean
            F[start: start + chunk] *= self.scale
        return F


def sums(F: np.ndarray, chunk: int = 16384) -> tuple[int, np.ndarray, np.ndarray]:
    """(rows, each column's sum, each column's sum of squares) of F (n, d), in float64: what
    Standardiser.from_sums needs; shards' sums add up."""
    total = np.zeros(F.shape[1], np.float64)
    squares = np.zeros(F.shape[1], np.float64)
    for start in range(0, len(F), chunk):
        block = F[start: start + chunk].astype(np.float64)
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    return len(F), total, squares
