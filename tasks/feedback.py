"""Fold labelled feedback images into a training split, as a new content-addressed data folder.

The validation and test splits stay exactly those of the base folder (so a challenger and the current
model are compared on the same data); train.parquet gains the feedback examples, preprocessed to MNIST
form. The folder name and manifest carry the feedback digest, so a model traces back to the exact
examples it saw.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from nnmodel import atomic
from nnmodel.feedback import load_feedback
from tasks.sources import sha256_file
from tasks.splits import read_split_uint8, split_table, write_split


def feedback_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the examples as trained on: uint8 pixels (n, 28, 28) and labels, in file order."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return h.hexdigest()


def fold_feedback(root: Path, data_dir: str | os.PathLike, feedback_dir: str | os.PathLike,
                  log=print) -> tuple[Path, dict | None]:
    """Data folder = `data_dir` + the feedback examples in train; (data_dir, None) when there are none.

    Unreadable or blank feedback files are logged and left out. Cached: the same base and feedback give
    the same folder, written once (atomically).
    """
    data_dir = Path(data_dir)
    if not Path(feedback_dir).is_dir():
        return data_dir, None
    images, labels, problems = load_feedback(feedback_dir)
    for problem in problems:
        log(f"feedback left out: {problem}")
    if len(labels) == 0:
        return data_dir, None
    digest = feedback_digest(images, labels)
    target = data_dir.parent / f"{data_dir.name}+feedback-{digest[:12]}"
    record = {"dir": str(Path(feedback_dir).resolve()), "count": int(len(labels)), "digest": digest,
              "class_counts": np.bincount(labels, minlength=10).tolist(), "left_out": problems}
    if (target / "manifest.json").is_file():
        return target, record
    base = json.loads((data_dir / "manifest.json").read_text())
    pixels, base_labels = read_split_uint8(data_dir / "train.parquet")
    index = pq.read_table(data_dir / "train.parquet", columns=["index"]).column("index").to_numpy()
    with atomic.atomic_dir(target) as tmp:
        all_images = np.concatenate([pixels.reshape(-1, 28, 28), images])
        all_labels = np.concatenate([base_labels, labels]).astype(np.uint8)
        all_index = np.concatenate([index, -1 - np.arange(len(labels))]).astype(np.int32)  # feedback: < 0
        write_split(split_table(all_images, all_labels, all_index), tmp / "train.parquet")
        for name in ("validation.parquet", "test.parquet"):
            shutil.copy2(data_dir / name, tmp / name)
        manifest = dict(base, base_data_dir=str(data_dir), feedback=record)
        manifest["files"] = dict(base["files"], **{"train.parquet": {"sha256": sha256_file(tmp / "train.parquet")}})
        manifest["counts"] = dict(base["counts"], train=int(len(all_labels)))
        manifest["class_counts"] = dict(base["class_counts"], train=np.bincount(all_labels, minlength=10).tolist())
        manifest["schema"] = dict(base["schema"], index="int32 (position in the source split; -1-k for "
                                                        "the k-th feedback example)")
        atomic.write_json(tmp / "manifest.json", manifest)
    return target, record
