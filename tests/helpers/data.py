"""Small data for tests: random MNIST-form arrays, digit images written as files, IDX bytes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def tiny_raw(n_train: int = 200, n_test: int = 50, seed: int = 0):
    """Small random RawData in MNIST form (uint8 images (n,28,28), labels 0-9 with every class)."""
    from nnmodel.data.readers import RawData

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_train + n_test, 28, 28), dtype=np.uint8)
    labels = (np.arange(n_train + n_test) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return RawData(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:])


def write_digits(folder: Path, digits: np.ndarray, names=None) -> list[str]:
    """Each uint8 (28, 28) digit as a PNG file in `folder`; returns the names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"digit-{i:05d}.png" for i in range(len(digits))]
    for name, d in zip(names, digits):
        Image.fromarray(d).save(folder / name)
    return names


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
