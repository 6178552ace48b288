"""Mostly-zero inputs (MNIST is ~81% zeros) as sparse row blocks, for the two products training needs.

Training spends nearly all its time in X @ W.T (forward) and X.T @ delta (gradient), X being
(m, 784). With X in CSR form these cost ~5x fewer multiply-adds; SciPy's sparse kernels release the
GIL, so one row block per core runs them in parallel. Same results as the dense products up to
float32 rounding (the sums are taken in a different order). Whether that beats the machine's dense
BLAS depends on the CPU (measured: 2x faster on an AMD EPYC, slower on an AVX-512 Xeon), so
`faster_as_sparse` times both on a sample once per process. Measured in BENCHMARKS.md.
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
    """True when X (m, n) is sparse enough that the sparse products may beat dense BLAS."""
    sample = X[:: max(1, len(X) // 5000)]
    return np.count_nonzero(sample) <= WORTH_IT_BELOW * sample.size


_CHOICES: dict[tuple, bool] = {}


def faster_as_sparse(X: np.ndarray, n_out: int, rows: int = 16384) -> bool:
    """Whether the products X @ W.T and X.T @ D (W: (n_out, n)) run faster from sparse row blocks
    than with dense BLAS on this machine: timed on `rows` rows of X (best of 3), decided once per
    process for each shape and density tenth, so repeated fits in one process take the same path."""
    if not worth_it(X):
        return False
    density = np.count_nonzero(X[:rows]) / max(X[:rows].size, 1)
    key = (X.shape[1], n_out, round(density, 1))
    if key not in _CHOICES:
        import time

        sample = np.ascontiguousarray(X[:rows])
        W = np.full((n_out, X.shape[1]), 0.01, dtype=sample.dtype)
        D = np.full((len(sample), n_out), 0.01, dtype=sample.dtype)
        blocks = SparseRows(sample)
        try:
            timings = []
            for dense in (True, False):
                best = float("inf")
                for _ in range(3):
                    started = time.perf_counter()
                    if dense:
                        sample @ W.T
                        sample.T @ D
                    else:
                        blocks.dot(W.T)
                        blocks.tdot(D)
                    best = min(best, time.perf_counter() - started)
                timings.append(best)
        finally:
            blocks.close()
        _CHOICES[key] = timings[1] < timings[0]
    return _CHOICES[key]


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
