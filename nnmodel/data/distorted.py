"""The distortion layer: distorted copies of a data folder's training split, cached by digest.

`data/<data>+distorted-<digest>/` holds `train.parquet` (the copies only, copy by copy, each with its
source index and label) and `manifest.json`. The digest covers the training split's SHA-256, each
copy's kinds, the seed and every distortion setting (and every hand's, when a copy names hands), so the
same inputs are a cache hit and a change of any of them makes a new layer. Validation and test are
never distorted.
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


def hand_settings() -> dict:
    """Everything besides the inputs that decides the bytes of copies in other hands."""
    from nnmodel.images import hands, preprocess

    return {"clean_from": preprocess.CLEAN_FROM, "rough_paper": preprocess.ROUGH_PAPER,
            "lowres_sides": list(hands.LOWRES_SIDES),
            "stretch": hands.STRETCH, "binary": hands.BINARY,
            "blown_up": hands.BLOWN_UP, "mouse_widths": list(hands.MOUSE_WIDTHS),
            "pen_widths": list(hands.PEN_WIDTHS), "slant": list(hands.SLANT), "aspect": list(hands.ASPECT),
            "ink": hands.INK, "pad": hands.PAD}


def negative_settings() -> dict:
    """Everything besides the inputs that decides the bytes of the negatives."""
    from nnmodel.images import negatives

    return {"kinds": list(negatives.NEGATIVE_KINDS), "canvas": negatives.CANVAS,
            "version": negatives.GENERATOR_VERSION}


def distort_training_split(layout: Layout, data_dir: str | os.PathLike, copies: list[list[str]], seed: int = 0,
                           log=print, negatives: int = 0) -> Path | None:
    """The distortion step: the layer of distorted copies of the train split of `data_dir`, one per
    entry of `copies` (each a list of kinds), then `negatives` generated images that are not digits
    (label 10, index -1; fragments and pairs made from the split's digits), written once,
    atomically; None when there are neither."""
    copies = [list(distort.check_kinds(spec, hands_too=True)) for spec in copies if spec]
    if not copies and not negatives:
        return None
    data_dir = Path(data_dir)
    train_sha = layout.manifest(data_dir)["files"]["train.parquet"]["sha256"]
    if copies and all(spec == copies[0] and set(spec) <= set(distort.KINDS) for spec in copies):
        # copies all alike, deformations only: the digest as it always was (existing layers stay valid)
        recipe = {"train_sha256": train_sha, "copies": len(copies), "kinds": copies[0], "seed": int(seed),
                  "settings": settings()}
    else:
        recipe = {"train_sha256": train_sha, "copy_kinds": copies, "seed": int(seed), "settings": settings(),
                  "hand_settings": hand_settings()}
    if negatives:
        recipe["negatives"] = {"count": int(negatives), **negative_settings()}

    def make():
        from nnmodel.images.negatives import NOT_A_DIGIT, negative_images

        pixels, labels, index = read_split_uint8(data_dir / "train.parquet", with_index=True)
        digits = pixels.reshape(-1, 28, 28)
        images = distort.distorted_copies(digits, copies, seed=seed, labels=labels) if copies \
            else np.zeros((0, 28, 28), np.uint8)
        others = negative_images(negatives, digits, seed=seed)
        return (np.concatenate([images, others]),
                np.concatenate([np.tile(labels, len(copies)), np.full(negatives, NOT_A_DIGIT, labels.dtype)]),
                np.concatenate([np.tile(index, len(copies)), np.full(negatives, -1, index.dtype)]))

    target, written = derived_split_layer(
        layout, data_dir, "distorted", recipe, "train", make,
        "train.parquet: the copies of the base train split, copy by copy, in its order; then the images "
        "that are not digits (label 10)")
    made = "; ".join("+".join(spec) for spec in copies) + (f"; {negatives:,} not digits" if negatives else "")
    if written is None:
        log(f"cache hit: {target} already holds these distorted copies ({made})")
    else:
        log(f"wrote {written:,} distorted copies and negatives ({made}) to {target}")
    return target


def distort_for_recipe(layout: Layout, data_dir: str | os.PathLike, preset: str = "default",
                       overrides: dict | None = None, family: str | None = None, log=print) -> Path | None:
    """The distortion layer the recipe (a preset, or a family, and its overrides: see
    nnmodel.model.presets.recipe) asks for: its copies, kinds and seed."""
    from nnmodel.model.presets import recipe

    chosen = recipe(preset, family, **(overrides or {}))
    return distort_training_split(layout, data_dir, chosen["copies"], chosen["seed"], log, chosen["negatives"])


def training_data(data_dir: str | os.PathLike, distorted_dir: str | os.PathLike | None = None):
    """X float32 (m, 784) and y (m,): the train split of `data_dir` followed by its distorted copies
    (and the layer's negatives, label 10)."""
    if distorted_dir is None:
        return read_split(Path(data_dir) / "train.parquet")
    parts = [read_split_uint8(Path(folder) / "train.parquet") for folder in (data_dir, distorted_dir)]
    X = np.empty((sum(len(p) for p, _ in parts), 784), np.float32)  # filled in place: no float copies
    start = 0
    for pixels, _ in parts:
        np.multiply(pixels, np.float32(1 / 255), out=X[start: start + len(pixels)], dtype=np.float32)
        start += len(pixels)
    return X, np.concatenate([labels for _, labels in parts])
