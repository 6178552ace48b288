"""Which Parquet layout stores MNIST images best? Size on disk and time to read a split back into a
float32 (n, 784) array in [0, 1]. Run: .venv/bin/python -m bench.parquet_layout [--repeat 5]

Each layout writes the 55,000-image training split (bundled MNIST, seed-0 hold-out) once, then the
reads are interleaved round-robin and the median is reported.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nnmodel.data import splits
from nnmodel.data.readers import read_bundled


def to_float(u8: np.ndarray) -> np.ndarray:
    out = np.empty(u8.shape, dtype=np.float32)
    np.multiply(u8, np.float32(1 / 255), out=out, dtype=np.float32)
    return out


def write_binary(images, labels, path, compression):
    pq.write_table(splits.split_table(images, labels, np.arange(len(labels))), path, compression=compression)


def read_binary(path):
    return splits.read_split(path)[0]


def write_columns(images, labels, path, compression):
    flat = images.reshape(len(images), 784)
    table = pa.table({"label": labels, **{f"p{i}": flat[:, i] for i in range(784)}})
    pq.write_table(table, path, compression=compression)


def read_columns(path):
    table = pq.read_table(path)
    return to_float(np.stack([table.column(f"p{i}").to_numpy() for i in range(784)], axis=1))


def write_list_u8(images, labels, path, compression):
    flat = images.reshape(-1)
    col = pa.FixedSizeListArray.from_arrays(pa.array(flat), 784)
    pq.write_table(pa.table({"label": labels, "image": col}), path, compression=compression)


def read_list_u8(path):
    col = pq.read_table(path, columns=["image"]).column("image").combine_chunks()
    return to_float(col.flatten().to_numpy().reshape(-1, 784))


def write_list_f32(images, labels, path, compression):
    flat = (images.reshape(-1) / np.float32(255)).astype(np.float32)
    col = pa.FixedSizeListArray.from_arrays(pa.array(flat), 784)
    pq.write_table(pa.table({"label": labels, "image": col}), path, compression=compression)


def read_list_f32(path):
    col = pq.read_table(path, columns=["image"]).column("image").combine_chunks()
    return col.flatten().to_numpy().reshape(-1, 784)


LAYOUTS = {
    "fixed_size_binary(784) uint8, zstd (ours)": (write_binary, read_binary, "zstd"),
    "fixed_size_binary(784) uint8, none": (write_binary, read_binary, "none"),
    "fixed_size_list<uint8>[784], zstd": (write_list_u8, read_list_u8, "zstd"),
    "784 uint8 columns, zstd": (write_columns, read_columns, "zstd"),
    "fixed_size_list<float32>[784], zstd": (write_list_f32, read_list_f32, "zstd"),
    "fixed_size_list<float32>[784], none": (write_list_f32, read_list_f32, "none"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raw = read_bundled()
    keep = np.setdiff1d(np.arange(60000), splits.stratified_holdout(raw.train_labels, 5000, 0))
    images, labels = raw.train_images[keep], raw.train_labels[keep]
    reference = images.reshape(-1, 784) / np.float32(255)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (name, (write, read, compression)) in enumerate(LAYOUTS.items()):
            paths[name] = Path(tmp) / f"layout{i}.parquet"
            write(images, labels, paths[name], compression)
            np.testing.assert_allclose(read(paths[name]), reference, atol=1e-7)
        times = {name: [] for name in LAYOUTS}
        for _ in range(args.repeat):
            for name, (_, read, _) in LAYOUTS.items():
                started = time.perf_counter()
                read(paths[name])
                times[name].append(time.perf_counter() - started)
        base = statistics.median(times[next(iter(LAYOUTS))])
        print(f"55,000 training images; median of {args.repeat} interleaved reads to float32 (n, 784)")
        print("| layout | size on disk (MB) | read (ms) | read vs ours |\n|---|---|---|---|")
        for name in LAYOUTS:
            med = statistics.median(times[name])
            print(f"| {name} | {paths[name].stat().st_size / 1e6:.1f} | {med * 1e3:.0f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
