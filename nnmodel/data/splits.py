"""The data layer: normalise and split the raw arrays into Parquet (`data/<dataset>-<digest>/`).

Each split is one Parquet file with columns `index` (int32, position in the source split), `label`
(uint8) and `image` (fixed_size_binary(784): the 28x28 uint8 pixels, row-major). Pixels stay uint8 on
disk (4x smaller than float32); `read_split` turns them into float32 in [0, 1] by dividing by 255, the
normalisation recorded in the manifest. BENCHMARKS.md has the layout measurements.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nnmodel import atomic
from nnmodel.data.digests import sha256_file
from nnmodel.data.raw import read_raw
from nnmodel.errors import DataError
from nnmodel.store.layout import Layout

LAYOUT_VERSION = 1
SPLITS = ("train", "validation", "test")
NORMALISATION = "float32 = uint8 / 255 (pixels in [0, 1], digit light on dark)"
IMAGE_TYPE = pa.binary(784)
SCHEMA = {"index": "int32 (position in the source split)",
          "label": "uint8 0-9 (10: not a digit, the negatives of a distortion layer)",
          "image": "fixed_size_binary(784): uint8 pixels, 28x28 row-major"}


def stratified_holdout(labels: np.ndarray, n_holdout: int, seed: int) -> np.ndarray:
    """Indices (sorted) of a deterministic hold-out of `n_holdout` examples, stratified by label.

    Each class contributes in proportion to its share (largest remainders settle rounding).
    """
    labels = np.asarray(labels)
    if not 0 <= n_holdout < len(labels):
        raise DataError(f"validation size {n_holdout} must be in 0..{len(labels) - 1}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_holdout / len(labels)
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: n_holdout - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=int)


def split_table(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> pa.Table:
    """Arrow table of one split from images uint8 (n, 28, 28), labels uint8 (n,), source index (n,)."""
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), 784)
    image_col = pa.FixedSizeBinaryArray.from_buffers(IMAGE_TYPE, len(flat), [None, pa.py_buffer(flat)])
    return pa.table({"index": pa.array(np.asarray(index).astype(np.int32)),
                     "label": pa.array(np.asarray(labels, dtype=np.uint8)),
                     "image": image_col})


def write_split(table: pa.Table, path: Path) -> str:
    """Write one split atomically; returns its SHA-256."""
    with atomic.atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=["label"], row_group_size=1 << 16)
        digest = sha256_file(tmp)
    return digest


def derived_split_layer(layout: Layout, data_dir: str | os.PathLike, kind: str, recipe: dict, split: str,
                        make, schema: str) -> tuple[Path, int | None]:
    """A layer derived from `data_dir` holding one split, `data/<data>+<kind>-<digest>/<split>.parquet`
    and manifest.json, named by the digest of `recipe` (everything that decides its bytes). `make()`
    returns its (images uint8 (n, 28, 28), labels (n,), index (n,)) and runs only when the layer is
    not there yet; the layer is written atomically. Returns its folder and how many images this call
    wrote (None when the layer was there)."""
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    target = layout.derived_data_dir(data_dir, kind, digest)
    name = f"{split}.parquet"
    if (target / "manifest.json").is_file() and (target / name).is_file():
        return target, None
    images, labels, index = make()
    with atomic.atomic_dir(target) as tmp:
        sha = write_split(split_table(images, labels, index), tmp / name)
        atomic.write_json(tmp / "manifest.json", {
            **recipe, "digest": digest, "base_data_dir": str(data_dir), "count": len(images),
            "files": {name: {"sha256": sha}}, "schema": schema})
    return target, len(images)


def read_split(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a split: X float32 (n, 784) in [0, 1] and y uint8 (n,)."""
    pixels, labels = read_split_uint8(path)
    X = np.empty(pixels.shape, dtype=np.float32)
    np.multiply(pixels, np.float32(1 / 255), out=X, dtype=np.float32)
    return X, labels


def read_split_uint8(path: str | os.PathLike, with_index: bool = False):
    """Read a split without normalising: pixels uint8 (n, 784), labels uint8 (n,) [, index int32 (n,)]."""
    path = Path(path)
    columns = ["image", "label", *(["index"] if with_index else [])]
    try:
        table = pq.read_table(path, columns=columns, use_threads=True)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: unreadable Parquet split ({exc})") from None
    pixels, labels = table_pixels(table, path)
    if with_index:
        return pixels, labels, table.column("index").to_numpy()
    return pixels, labels


def table_pixels(table: pa.Table, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Pixels uint8 (n, 784) and labels uint8 (n,) of a split's table (read from `path`)."""
    if table.schema.field("image").type != IMAGE_TYPE:
        raise DataError(f"{path}: column 'image' has type {table.schema.field('image').type}, expected {IMAGE_TYPE}")
    images = table.column("image").combine_chunks()
    pixels = np.frombuffer(images.buffers()[1], dtype=np.uint8, count=len(images) * 784,
                           offset=images.offset * 784).reshape(-1, 784)
    labels = np.ascontiguousarray(table.column("label").to_numpy(), dtype=np.uint8)
    return pixels, labels


def read_splits(data_dir: str | os.PathLike, names=SPLITS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (X, y)} of a data folder, as `read_split`."""
    return {name: read_split(Path(data_dir) / f"{name}.parquet") for name in names}


def splits_key(raw_record: dict, validation_size: int, seed: int) -> str:
    """Digest of everything the splits depend on: it names their folder."""
    key = json.dumps({"raw": raw_record["digest"], "validation": validation_size, "seed": seed,
                      "layout": LAYOUT_VERSION}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()


def is_complete(layout: Layout, folder: Path) -> bool:
    """Whether `folder` holds a manifest and every split file it lists."""
    if not (folder / "manifest.json").is_file():
        return False
    files = layout.manifest(folder).get("files", {})
    return len(files) == len(SPLITS) and all((folder / name).is_file() for name in files)


def write_splits(folder: Path, raw, raw_record: dict, validation_size: int, seed: int) -> None:
    """Write train/validation/test Parquet files and manifest.json into `folder` (replaced atomically)."""
    holdout = stratified_holdout(raw.train_labels, validation_size, seed)
    keep = np.ones(len(raw.train_labels), dtype=bool)
    keep[holdout] = False
    train_idx = np.flatnonzero(keep)
    parts = {
        "train": (raw.train_images[train_idx], raw.train_labels[train_idx], train_idx),
        "validation": (raw.train_images[holdout], raw.train_labels[holdout], holdout),
        "test": (raw.test_images, raw.test_labels, np.arange(len(raw.test_labels))),
    }
    manifest = {
        "dataset": raw_record["dataset"], "raw_digest": raw_record["digest"],
        "raw_sha256": raw_record["sha256"], "verified": raw_record["verified"],
        "validation": {"size": validation_size, "seed": seed, "method": "stratified hold-out from train"},
        "normalisation": NORMALISATION, "layout_version": LAYOUT_VERSION, "schema": SCHEMA,
        "files": {}, "counts": {}, "class_counts": {},
    }
    with atomic.atomic_dir(folder) as tmp:
        for name, (images, labels, index) in parts.items():
            file = f"{name}.parquet"
            manifest["files"][file] = {"sha256": write_split(split_table(images, labels, index), tmp / file)}
            manifest["counts"][name] = len(labels)
            manifest["class_counts"][name] = np.bincount(labels, minlength=10).tolist()
        atomic.write_json(tmp / "manifest.json", manifest)


def prepare_data(layout: Layout, raw_dir: str | os.PathLike, validation_size: int = 5000, seed: int = 0,
                 refresh: bool = False, log=print) -> Path:
    """The pipeline's second step: the splits of a raw folder, written once into a folder named by
    their inputs' digest (the same inputs are a cache hit unless `refresh`); returns the folder."""
    raw_record = layout.raw_record(raw_dir)
    target = layout.data_dir(raw_record["dataset"], splits_key(raw_record, validation_size, seed))
    if not refresh and is_complete(layout, target):
        log(f"cache hit: {target} already holds these splits")
        return target
    raw, raw_record = read_raw(raw_dir)
    write_splits(target, raw, raw_record, validation_size, seed)
    log(f"wrote splits to {target}")
    return target
