"""Digits written by other people than MNIST's, in the MNIST form, for the other-writers score.

  optdigits  the UCI optdigits test digits (1,797 by 13 writers, none of MNIST's: UCI split its 43
             writers 30 for training, 13 for test), shipped inside the scikit-learn wheel as
             sklearn/datasets/data/digits.csv.gz: 8x8 blocks of 0-16, scaled
             up to 64x64 and sent through the same preprocessing as `digits predict`. The file is
             read directly (scikit-learn is never imported); without the wheel the score says so.
  drawn      MNIST test digits thinned to a skeleton and redrawn with a round pen of three widths on
             the viewer's 280x280 canvas, the way a mouse draws them, then preprocessed; kept as a
             data layer, `data/<data>+drawn-<digest>/test.parquet` (`drawn_layer`): redrawing takes
             seconds, reading it back milliseconds
Both return X float32 (n, 784) in [0, 1] and y (n,), or None when the source is missing.
"""
from __future__ import annotations

import gzip
import io
import os
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from nnmodel.data.splits import derived_split_layer, read_split, read_split_uint8
from nnmodel.images.preprocess import BATCH_PIXELS, preprocess_greys
from nnmodel.images.strokes import many_digit_strokes, render
from nnmodel.store.layout import Layout

OPTDIGITS_PACKAGE = "scikit-learn"
OPTDIGITS_FILE = "sklearn/datasets/data/digits.csv.gz"
OPTDIGITS_SIZE = 64                 # pixels: the 8x8 digits are scaled up to this before preprocessing
DRAWN_LAYER_VERSION = 1            # bump when the strokes, the pen or the preprocessing draw differently
DRAWN_COUNT = 500                   # MNIST test digits redrawn (the first ones)
PEN_WIDTHS = (12, 20, 28)           # pixels on the 280x280 canvas: 1.2 to 2.8 MNIST pixels
MISSING = ("optdigits not scored: scikit-learn is not installed (`pip install 'digits[others]'`); "
           f"its wheel ships {OPTDIGITS_FILE}")


def optdigits_path() -> Path | None:
    """The optdigits file inside the installed scikit-learn wheel, or None."""
    try:
        path = Path(metadata.distribution(OPTDIGITS_PACKAGE).locate_file(OPTDIGITS_FILE))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def optdigits(path: Path | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The optdigits test digits in MNIST form, or None when the file is missing."""
    path = path or optdigits_path()
    if path is None:
        return None
    table = np.loadtxt(io.StringIO(gzip.decompress(path.read_bytes()).decode()), delimiter=",", dtype=np.float32)
    blocks, labels = table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.uint8)
    greys = [np.asarray(Image.fromarray(np.round(b * (255 / 16)).astype(np.uint8)).resize(
        (OPTDIGITS_SIZE, OPTDIGITS_SIZE), Image.Resampling.BILINEAR)) for b in blocks]
    return _mnist_form(greys), labels


def drawn(test_images: np.ndarray, test_labels: np.ndarray, count: int = DRAWN_COUNT,
          widths=PEN_WIDTHS) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` test digits (uint8 (n, 28, 28)) redrawn with each pen width, in MNIST form:
    X (count * len(widths), 784), y, grouped by width."""
    strokes = many_digit_strokes(test_images[:count])
    greys = [render(s, width=w) for w in widths for s in strokes]
    return _mnist_form(greys), np.tile(np.asarray(test_labels[:count]), len(widths))


def drawn_layer(layout: Layout, data_dir: str | os.PathLike, count: int = DRAWN_COUNT,
                widths=PEN_WIDTHS) -> tuple[np.ndarray, np.ndarray]:
    """`drawn` of the test split of `data_dir`, made once into the layer `data/<data>+drawn-<digest>/`
    (test.parquet, uint8 pixels like every split, and manifest.json) and read back from it later.
    The digest covers the test split's SHA-256, `count`, `widths` and DRAWN_LAYER_VERSION."""
    data_dir = Path(data_dir)
    recipe = {"test_sha256": layout.manifest(data_dir)["files"]["test.parquet"]["sha256"], "count": int(count),
              "widths": [int(w) for w in widths], "layer_version": DRAWN_LAYER_VERSION}

    def make():
        pixels, labels = read_split_uint8(data_dir / "test.parquet")
        X, y = drawn(pixels.reshape(-1, 28, 28), labels, count, widths)
        return np.rint(X * 255).astype(np.uint8).reshape(-1, 28, 28), y, np.arange(len(y), dtype=np.int32)

    target, _ = derived_split_layer(
        layout, data_dir, "drawn", recipe, "test", make,
        "test.parquet: the first `count` test digits redrawn with each pen width, width by width")
    return read_split(target / "test.parquet")


def _mnist_form(greys: list[np.ndarray], batch_pixels: int = BATCH_PIXELS) -> np.ndarray:
    """Preprocessed in batches of about `batch_pixels` (a 280x280 canvas is 78,400 pixels)."""
    per_batch = max(1, batch_pixels // greys[0].size)
    return np.stack([p.pixels.reshape(784) for start in range(0, len(greys), per_batch)
                     for p in preprocess_greys(greys[start: start + per_batch])])
