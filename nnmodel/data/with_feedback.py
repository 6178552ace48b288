"""Fold labelled feedback images into the training split, as a new content-addressed data folder.

The validation and test splits stay exactly those of the base folder (so a challenger and the current
model are compared on the same data); train.parquet gains the feedback examples, preprocessed to MNIST
form. The folder name and manifest carry the feedback digest, so a model traces back to the exact
examples it saw.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.data.splits import read_split_uint8, split_table, write_split
from nnmodel.store.feedback import load_feedback
from nnmodel.store.layout import Layout


def feedback_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the examples as trained on: uint8 pixels (n, 28, 28) and labels, in file order."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return h.hexdigest()


def fold_feedback(layout: Layout, data_dir: str | os.PathLike, feedback_dir: str | os.PathLike | None = None,
                  use_feedback: bool = True, log=print) -> Path:
    """The data folder to train on: `data_dir` plus the feedback examples (from `feedback_dir`, by
    default the artifacts' feedback folder) in train; `data_dir` itself when there are none, the
    folder is missing, or not `use_feedback`.

    Unreadable or blank feedback files are logged and left out. Cached: the same base and feedback give
    the same folder, written once (atomically).
    """
    data_dir = Path(data_dir)
    feedback_dir = Path(feedback_dir or layout.feedback)
    if not use_feedback or not feedback_dir.is_dir():
        return data_dir
    images, labels, problems = load_feedback(feedback_dir)
    for problem in problems:
        log(f"feedback left out: {problem}")
    if len(labels) == 0:
        log(f"no feedback images in {feedback_dir}")
        return data_dir
    digest = feedback_digest(images, labels)
    target = layout.derived_data_dir(data_dir, "feedback", digest)
    record = {"dir": str(feedback_dir.resolve()), "count": len(labels), "digest": digest,
              "class_counts": np.bincount(labels, minlength=10).tolist(), "left_out": problems}
    if (target / "manifest.json").is_file():
        return target
    base = layout.manifest(data_dir)
    pixels, base_labels, index = read_split_uint8(data_dir / "train.parquet", with_index=True)
    with atomic.atomic_dir(target) as tmp:
        all_images = np.concatenate([pixels.reshape(-1, 28, 28), images])
        all_labels = np.concatenate([base_labels, labels]).astype(np.uint8)
        all_index = np.concatenate([index, -1 - np.arange(len(labels))]).astype(np.int32)  # feedback: < 0
        train_sha = write_split(split_table(all_images, all_labels, all_index), tmp / "train.parquet")
        for name in ("validation.parquet", "test.parquet"):
            shutil.copy2(data_dir / name, tmp / name)
        manifest = dict(base, base_data_dir=str(data_dir), feedback=record)
        manifest["files"] = dict(base["files"], **{"train.parquet": {"sha256": train_sha}})
        manifest["counts"] = dict(base["counts"], train=len(all_labels))
        manifest["class_counts"] = dict(base["class_counts"], train=np.bincount(all_labels, minlength=10).tolist())
        manifest["schema"] = dict(base["schema"], index="int32 (position in the source split; -1-k for "
                                                        "the k-th feedback example)")
        atomic.write_json(tmp / "manifest.json", manifest)
    log(f"folded {record['count']} feedback images (digest {digest[:12]}) into {target}")
    return target
