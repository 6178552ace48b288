"""Digits written by other people than MNIST's, in the MNIST form, for the other-writers score.

  optdigits  the UCI optdigits test digits (1,797 by 13 writers, none of MNIST's: UCI split its 43
             writers 30 for training, 13 for test), shipped with this package (sets/, checked by
             SHA-256; the copy scikit-learn's wheel carries): 8x8 blocks of 0-16, scaled up to 64x64
             and sent through the same preprocessing as `digits predict`
  drawn      MNIST test digits thinned to a skeleton and redrawn with a round pen of three widths on
             the viewer's 280x280 canvas, the way a mouse draws them, then preprocessed; kept as a
             data layer, `data/<data>+drawn-<digest>/test.parquet` (`drawn_layer`): redrawing takes
             seconds, reading it back milliseconds
Both return X float32 (n, 784) in [0, 1] and y (n,).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from nnmodel.data.splits import derived_split_layer, read_split, read_split_uint8
from nnmodel.errors import DataError
from nnmodel.images.preprocess import BATCH_PIXELS, preprocess_greys
from nnmodel.images.strokes import many_digit_strokes, render
from nnmodel.store.layout import Layout

OPTDIGITS_FILE = Path(__file__).with_name("sets") / "optdigits-test.csv.gz"
OPTDIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
OPTDIGITS_SIZE = 64                 # pixels: the 8x8 digits are scaled up to this before preprocessing
DRAWN_LAYER_VERSION = 2            # bump when the strokes, the pen or the preprocessing draw differently
DRAWN_COUNT = 500                   # MNIST test digits redrawn (the first ones)
PEN_WIDTHS = (12, 20, 28)           # pixels on the 280x280 canvas: 1.2 to 2.8 MNIST pixels
def optdigits(path: Path = OPTDIGITS_FILE) -> tuple[np.ndarray, np.ndarray]:
    """The optdigits test digits in MNIST form; DataError when the file is missing or not the one
    shipped (its SHA-256)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the optdigits test digits ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != OPTDIGITS_SHA256:
        raise DataError(f"{path}: not the optdigits test digits this version ships (SHA-256 differs)")
    table = np.loadtxt(io.StringIO(gzip.decompress(data).decode()), delimiter=",", dtype=np.float32)
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
