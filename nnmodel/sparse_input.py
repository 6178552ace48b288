"""Mostly-zero inputs (MNIST is ~81% zeros) as sparse row blocks, for the two products training needs.

Training spends nearly all its time in X @ W.T (forward) and X.T @ delta (gradient), X being
(m, 784). With X in CSR form these cost ~5x fewer multiply-adds; SciPy's sparse kernels release the
GIL, so one row block per core runs them in parallel. Same results as the dense products up to
float32 rounding (the sums are taken in a different order). Measured in BENCHMARKS.md.
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

WORTH_IT_BELOW = 0.4  # use the sparse path when at most this fraction of the inputs is non-zero


def n_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worth_it(X: np.ndarray) -> bool:
    """True when X (m, n) is sparse enough that the sparse products beat dense BLAS."""
    sample = X[:: max(1, len(X) // 5000)]
    return np.count_nonzero(sample) <= WORTH_IT_BELOW * sample.size


class SparseRows:
    """X (m, n) as CSR row blocks, one per thread. dot(B) = X @ B (m, k); tdot(D) = X.T @ D (n, k)."""

    def __init__(self, X: np.ndarray, threads: int | None = None):
        X = np.asarray(X)
        self.shape, self.dtype = X.shape, X.dtype
        threads = threads or n_threads()
        edges = np.linspace(0, len(X), threads + 1).astype(int)
        self.bounds = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
        self.blocks = [sp.csr_matrix(X[a:b]) for a, b in self.bounds]
        self.blocks_t = [block.T for block in self.blocks]  # CSC views: X_k.T @ D_k reads D in order
        self.pool = ThreadPoolExecutor(len(self.bounds)) if len(self.bounds) > 1 else None

    def _map(self, fn):
        if self.pool is None:
            return [fn(0)]
        return list(self.pool.map(fn, range(len(self.blocks))))

    def dot(self, B: np.ndarray, add: np.ndarray | None = None, then=None) -> np.ndarray:
        """X @ B (+ add) for dense B (n, k): (m, k); `then(rows)` runs in place on each block's rows,
        in the same thread (e.g. the hidden activation), so it is parallel too."""
        B = np.ascontiguousarray(B, dtype=self.dtype)
        out = np.empty((self.shape[0], B.shape[1]), dtype=self.dtype)

        def work(i):
            a, b = self.bounds[i]
            rows = out[a:b]
            rows[...] = self.blocks[i] @ B
            if add is not None:
                rows += add
            if then is not None:
                then(rows)
        self._map(work)
        return out

    def tdot(self, D: np.ndarray) -> np.ndarray:
        """X.T @ D for dense D (m, k): (n, k), the per-block partial sums added."""
        D = np.ascontiguousarray(D, dtype=self.dtype)
        parts = self._map(lambda i: self.blocks_t[i] @ D[self.bounds[i][0]:self.bounds[i][1]])
        total = parts[0]
        for part in parts[1:]:
            total += part
        return np.asarray(total, dtype=self.dtype)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
