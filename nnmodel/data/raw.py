"""The raw layer: read a source, verify its checksums, keep the arrays (`raw/<dataset>-<digest>/`).

A folder holds the four uint8 arrays as .npy (loaded without pickle) and raw.json: origin, the
SHA-256 of each array, how the content was verified. A dataset named "mnist" must be the canonical
MNIST (the same examples, in any order); any other name is recorded as given.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.data.digests import sha256_bytes, unordered_digest
from nnmodel.data.download import download_mnist, mirrors
from nnmodel.data.readers import (
    BUNDLED_FILE,
    BUNDLED_VERSION,
    BUNDLED_WHEEL,
    SPLIT_KEYS,
    RawData,
    read_bundled,
    read_local,
)
from nnmodel.errors import DataError
from nnmodel.store.layout import Layout, read_record

# SHA-256 of the canonical MNIST content: each array's C-order uint8 bytes (= the IDX payload after
# its header) ...
MNIST_ARRAY_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
# ... and `unordered_digest` of the canonical train and test splits (the same examples, any order).
MNIST_UNORDERED_SHA256 = {
    "train": "54e1ab866c9484947dd4821c52bb7a43938f555d6b046be6af55247f8e6ffc64",
    "test": "97b756d55950f1841ebd48df7379b9b2fc87a10d63e08d6213dad41d564e8508",
}


def load_source(source: str, layout: Layout, base_url: str | None = None, log=print) -> tuple[RawData, str]:
    """Arrays from `source` ('bundled', 'url' or a local path) and a line saying where they came from."""
    if source == "bundled":
        return read_bundled(), f"bundled: {BUNDLED_WHEEL}=={BUNDLED_VERSION} {BUNDLED_FILE}"
    if source == "url":
        raw = download_mnist(base_url, layout.downloads, log=log)
        return raw, f"url: {', '.join(mirrors(base_url))}"
    return read_local(source), f"path: {Path(source).resolve()}"


def verify(raw: RawData, dataset_name: str, origin: str) -> dict:
    """Digest the arrays; a dataset named 'mnist' must be the canonical MNIST content.

    Returns a record: dataset, origin, per-array SHA-256, counts, how the content was verified, and
    `digest` (of the four array digests), which names the raw folder.
    """
    digests = {key: sha256_bytes(arr) for key, arr in raw.arrays().items()}
    record = {"dataset": dataset_name, "origin": origin, "sha256": digests,
              "counts": {"train": len(raw.train_labels), "test": len(raw.test_labels)},
              "verified": "not MNIST: recorded digests only"}
    if dataset_name.lower() == "mnist":
        if digests == MNIST_ARRAY_SHA256:
            record["verified"] = "canonical MNIST (exact SHA-256 match)"
        elif same_examples_as_mnist(raw):
            record["verified"] = "canonical MNIST examples in a different order (unordered SHA-256 match)"
        else:
            bad = [k for k in SPLIT_KEYS if digests[k] != MNIST_ARRAY_SHA256[k]]
            raise DataError(f"{origin}: content does not match canonical MNIST ({', '.join(bad)} differ); "
                            "pass --dataset-name NAME to import another 28x28 10-class dataset")
    record["digest"] = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    return record


def same_examples_as_mnist(raw: RawData) -> bool:
    return (unordered_digest(raw.train_images, raw.train_labels) == MNIST_UNORDERED_SHA256["train"]
            and unordered_digest(raw.test_images, raw.test_labels) == MNIST_UNORDERED_SHA256["test"])


def write_raw(layout: Layout, raw: RawData, record: dict) -> Path:
    """The verified arrays as .npy plus raw.json in their raw folder, written atomically (once)."""
    target = layout.raw_dir(record["dataset"], record["digest"])
    if (target / "raw.json").is_file():
        return target
    with atomic.atomic_dir(target) as tmp:
        for key, arr in raw.arrays().items():
            np.save(tmp / f"{key}.npy", arr, allow_pickle=False)
        atomic.write_json(tmp / "raw.json", record)
    return target


def read_raw(folder: str | os.PathLike) -> tuple[RawData, dict]:
    """Load a raw folder written by `write_raw`, re-checking every array against raw.json."""
    folder = Path(folder)
    record = read_record(folder / "raw.json", "raw-layer record")
    arrays = {}
    for key in SPLIT_KEYS:
        path = folder / f"{key}.npy"
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable array ({exc})") from None
        if sha256_bytes(arr) != record.get("sha256", {}).get(key):
            raise DataError(f"{path}: SHA-256 differs from raw.json (file changed or corrupt)")
        arrays[key] = arr
    return RawData(**arrays), record


def fetch_raw(layout: Layout, source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
              log=print) -> Path:
    """The pipeline's first step: read `source`, verify it, write (or find) its raw folder."""
    raw, origin = load_source(source, layout, base_url, log=log)
    record = verify(raw, dataset_name, origin)
    cached = (layout.raw_dir(dataset_name, record["digest"]) / "raw.json").is_file()
    folder = write_raw(layout, raw, record)
    log(f"raw layer {folder} ({record['verified']}; {'already present' if cached else 'written'})")
    return folder
