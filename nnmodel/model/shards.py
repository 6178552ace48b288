"""Training examples in shards, and objectives summed over them: how every family fitted by L-BFGS-B
trains, in this process or on a Dask cluster (`nnmodel.model.dask_shards`) alike.

A shard is a fixed run of SHARD_ROWS training rows (the last one shorter), numbered in the order of
the training files (the train split, then its distortion layer: nnmodel.data.shards reads them).
Each shard holds a state (a dict of arrays: its pixels and labels at first, then whatever the family
computes from them, e.g. features); the family changes the states with `update`, asks each shard
something with `map`, and adds up the shards' answers with `total`. The sum is always taken in the
same pairwise tree over the shard numbers (`tree_sum`), so a fit gives the same numbers whether its
shards live here or on any number of workers: the shards, not the workers, decide the arithmetic.

Each shard's arithmetic runs with one BLAS thread (the shards themselves run in parallel), so that its
float32 sums do not depend on how many threads a machine gives BLAS.
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SHARD_ROWS = 16384  # training rows per shard


def shard_bounds(n_rows: int, rows: int = SHARD_ROWS) -> list[tuple[int, int]]:
    """[start, stop) of each shard of n_rows rows in order."""
    return [(start, min(start + rows, n_rows)) for start in range(0, n_rows, rows)]


def add(a, b):
    """The sum of two shards' answers: numbers, arrays, or tuples of them."""
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b))
    return a + b


def tree_sum(values: list):
    """values[0] + values[1] + ... added pairwise, (0+1)+(2+3), then those: the one order every
    executor uses."""
    values = list(values)
    while len(values) > 1:
        values = [add(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def allot(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` (whole numbers summing to total; largest remainders)."""
    weights = np.asarray(weights, dtype=np.float64)
    if total <= 0 or weights.sum() <= 0:
        return [0] * len(weights)
    exact = total * weights / weights.sum()
    share = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - share), kind="stable")[: total - share.sum()]:
        share[i] += 1
    return share.tolist()


_BLAS = {}


def one_blas_thread():
    """A context in which BLAS uses one thread (threadpoolctl's controller made once per process)."""
    from threadpoolctl import ThreadpoolController

    if "controller" not in _BLAS:
        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"].limit(limits=1, user_api="blas")


class LocalShards:
    """Shards whose states live in this process; their work runs on one thread per core."""

    where = "this process"

    def __init__(self, states: list[dict], threads: int | None = None):
        self.states = states
        self.threads = threads or len(os.sched_getaffinity(0))

    @classmethod
    def of_arrays(cls, X: np.ndarray, y: np.ndarray, rows: int = SHARD_ROWS) -> LocalShards:
        """Shards of X (m, 784) (pixels, uint8 or float in [0, 1]) and labels y (m,): views, no copies
        (nnmodel.data.shards.local_shards reads them from Parquet files instead)."""
        y = np.asarray(y, dtype=np.intp)
        return cls([{"index": i, "pixels": X[a:b], "y": y[a:b]} for i, (a, b) in enumerate(shard_bounds(len(X), rows))])

    def __len__(self) -> int:
        return len(self.states)

    def map(self, fn, *args) -> list:
        """[fn(state, *args) for each shard], in shard order."""
        if len(self.states) == 1 or self.threads == 1:
            with one_blas_thread():
                return [fn(state, *args) for state in self.states]
        with one_blas_thread(), ThreadPoolExecutor(min(self.threads, len(self.states))) as pool:
            return list(pool.map(lambda state: fn(state, *args), self.states))

    def update(self, fn, *args) -> None:
        """Each shard's state becomes fn(state, *args)."""
        self.states = self.map(fn, *args)

    def total(self, fn, *args):
        """tree_sum of fn(state, *args) over the shards."""
        return tree_sum(self.map(fn, *args))

    def close(self) -> None:
        self.states = []


def dense_sums(state: dict, flat: np.ndarray, key: str, sizes: tuple[int, ...], activation: str, output: str,
               weight: float, dtype: str = "float32") -> tuple[float, np.ndarray]:
    """One shard's share of a dense network's data cost and flat gradient (float64), on the inputs and
    one-hot targets it holds under `key`, each example weighted `weight` (1 / all examples)."""
    from nnmodel.model.dense import data_sums, pack, unpack

    inputs, targets = state[key]
    if len(targets) == 0:
        return 0.0, np.zeros(len(flat))
    cost, grads = data_sums(unpack(flat, sizes, np.dtype(dtype)), inputs, targets, activation, output, weight)
    return cost, pack(grads)


def dense_objective(shards, key: str, sizes: tuple[int, ...], lam: float, activation: str, output: str, m: int,
                    dtype: str = "float32"):
    """objective(flat) -> (cost, gradient float64) of a dense network (see nnmodel.model.dense) on the
    `key` examples of all shards (m of them): the shards' data sums, then the L2 penalty, added here."""
    from nnmodel.model.dense import pack

    sizes = tuple(sizes)
    is_weight = pack([(np.ones((n_out, n_in)), np.zeros(n_out)) for n_in, n_out in itertools.pairwise(sizes)]) > 0

    def objective(flat):
        cost, grad = shards.total(dense_sums, flat, key, sizes, activation, output, 1.0 / m, dtype)
        weights = np.where(is_weight, flat, 0.0)
        return cost + 0.5 * lam / m * float(weights @ weights), grad + (lam / m) * weights
    return objective


def as_unit(pixels: np.ndarray, dtype="float32") -> np.ndarray:
    """Pixels as floats in [0, 1]: uint8 divided by 255 in float32 (as the data layer reads them),
    floats as given; then in `dtype`."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        pixels = np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)
    return pixels.astype(dtype, copy=False)


def drop(state: dict, *keys: str) -> dict:
    """The state without `keys`."""
    return {k: v for k, v in state.items() if k not in keys}

