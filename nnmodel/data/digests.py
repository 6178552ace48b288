"""SHA-256 digests of arrays and files: how every layer is verified and named."""
from __future__ import annotations

import hashlib
import os

import numpy as np


def sha256_bytes(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def unordered_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the sorted per-example digests: equal for the same examples in any order."""
    rows = np.concatenate([images.reshape(len(images), -1), labels.reshape(-1, 1)], axis=1)
    per_row = sorted(hashlib.sha256(row.data).digest() for row in np.ascontiguousarray(rows))
    return hashlib.sha256(b"".join(per_row)).hexdigest()
