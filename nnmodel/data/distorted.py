"""The distortion layer: distorted copies of a data folder's training split, cached by digest.

`data/<data>+distorted-<digest>/` holds `train.parquet` (the copies only, copy by copy, each with its
source index and label) and `manifest.json`. The digest covers the training split's SHA-256, the
number of copies, the kinds, the seed and every distortion setting, so the same inputs are a cache hit
and a change of any of them makes a new layer. Validation and test are never distorted.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnmodel.data.splits import derived_split_layer, read_split, read_split_uint8
from nnmodel.images import distort
from nnmodel.store.layout import Layout

LAYER_VERSION = 1


def settings() -> dict:
    """Everything besides the inputs that decides the copies' bytes."""
    return {"rotation": distort.ROTATION, "scale": list(distort.SCALE), "shear": distort.SHEAR,
            "translate": distort.TRANSLATE, "elastic_alpha": distort.ELASTIC_ALPHA,
            "elastic_sigma": distort.ELASTIC_SIGMA, "stroke": distort.STROKE,
            "blur_kernel": distort.BLUR_KERNEL.tolist(), "faint": distort.FAINT, "flag": distort.FLAG,
            "base": distort.BASE, "cross": distort.CROSS, "pen": distort.PEN, "block": distort.BLOCK,
            "layer_version": LAYER_VERSION}


def distort_training_split(layout: Layout, data_dir: str | os.PathLike, copies: int, kinds, seed: int = 0,
                           log=print) -> Path | None:
    """The distortion step: the layer of `copies` distorted copies of the train split of `data_dir`
    (written once, atomically); None when there is nothing to distort (no copies or no kinds)."""
    kinds = distort.check_kinds(kinds)
    if copies <= 0 or not kinds:
        return None
    data_dir = Path(data_dir)
    train_sha = layout.manifest(data_dir)["files"]["train.parquet"]["sha256"]
    recipe = {"train_sha256": train_sha, "copies": int(copies), "kinds": list(kinds), "seed": int(seed),
              "settings": settings()}

    def make():
        pixels, labels, index = read_split_uint8(data_dir / "train.parquet", with_index=True)
        images = distort.distorted_copies(pixels.reshape(-1, 28, 28), copies, kinds, seed, labels=labels)
        return images, np.tile(labels, copies), np.tile(index, copies)

    target, written = derived_split_layer(
        layout, data_dir, "distorted", recipe, "train", make,
        "train.parquet: the copies of the base train split, copy by copy, in its order")
    if written is None:
        log(f"cache hit: {target} already holds these distorted copies")
    else:
        log(f"wrote {written:,} distorted copies ({', '.join(kinds)}) to {target}")
    return target


def distort_for_recipe(layout: Layout, data_dir: str | os.PathLike, preset: str = "default",
                       overrides: dict | None = None, family: str | None = None, log=print) -> Path | None:
    """The distortion layer the recipe (a preset, or a family, and its overrides: see
    nnmodel.model.presets.recipe) asks for: its copies, kinds and seed."""
    from nnmodel.model.presets import recipe

    chosen = recipe(preset, family, **(overrides or {}))
    return distort_training_split(layout, data_dir, chosen["copies"], chosen["distortions"], chosen["seed"], log)


def training_data(data_dir: str | os.PathLike, distorted_dir: str | os.PathLike | None = None):
    """X float32 (m, 784) and y (m,): the train split of `data_dir` followed by its distorted copies."""
    if distorted_dir is None:
        return read_split(Path(data_dir) / "train.parquet")
    parts = [read_split_uint8(Path(folder) / "train.parquet") for folder in (data_dir, distorted_dir)]
    X = np.empty((sum(len(p) for p, _ in parts), 784), np.float32)  # filled in place: no float copies
    start = 0
    for pixels, _ in parts:
        np.multiply(pixels, np.float32(1 / 255), out=X[start: start + len(pixels)], dtype=np.float32)
        start += len(pixels)
    return X, np.concatenate([labels for _, labels in parts])
