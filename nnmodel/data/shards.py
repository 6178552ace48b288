"""The training rows of Parquet splits in shards (nnmodel.model.shards): which rows each shard holds,
and reading them, where the shard lives (in this process, or on a Dask worker).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from nnmodel.data.splits import table_pixels
from nnmodel.model.shards import SHARD_ROWS, LocalShards, shard_bounds


@dataclass(frozen=True)
class ShardSpec:
    """Shard number `index`: rows [start, stop) of each of `parts` [(parquet file, start, stop), ...]."""

    index: int
    parts: tuple[tuple[str, int, int], ...]

    @property
    def rows(self) -> int:
        return sum(stop - start for _, start, stop in self.parts)


def plan_shards(files: list[str | os.PathLike], rows: int = SHARD_ROWS) -> list[ShardSpec]:
    """The shards of the rows of `files` (Parquet splits) read one after the other."""
    counts = [pq.ParquetFile(f).metadata.num_rows for f in files]
    firsts = [0, *itertools.accumulate(counts)]
    specs = []
    for index, (start, stop) in enumerate(shard_bounds(firsts[-1], rows)):
        parts = tuple((str(f), max(start - first, 0), min(stop - first, count))
                      for f, first, count in zip(files, firsts, counts) if start < first + count and stop > first)
        specs.append(ShardSpec(index, parts))
    return specs


def read_rows(path: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows [start, stop) of a Parquet split: pixels uint8 (n, 784) and labels uint8 (n,), reading only
    the row groups that hold them."""
    parquet = pq.ParquetFile(path)
    groups, first, offset = [], 0, None
    for g in range(parquet.metadata.num_row_groups):
        n = parquet.metadata.row_group(g).num_rows
        if first < stop and first + n > start:
            groups.append(g)
            offset = first if offset is None else offset
        first += n
    table = parquet.read_row_groups(groups, columns=["image", "label"]).slice(start - offset, stop - start)
    return table_pixels(table, path)


def load_shard(spec: ShardSpec) -> dict:
    """A shard's first state: {"index": its number, "pixels": uint8 (n, 784), "y": labels (n,) int},
    read from its files."""
    parts = [read_rows(path, start, stop) for path, start, stop in spec.parts]
    return {"index": spec.index, "pixels": np.concatenate([p for p, _ in parts]),
            "y": np.concatenate([y for _, y in parts]).astype(np.intp)}


def local_shards(files: list[str | os.PathLike], rows: int = SHARD_ROWS) -> LocalShards:
    """The shards of `files` read into this process (see plan_shards)."""
    return LocalShards([load_shard(spec) for spec in plan_shards(files, rows)])
