"""Labelled feedback images: `<folder>/<digit>/<image>`, saved by the viewer, folded in by retrains.

Saved files are 28x28 grey PNGs in MNIST form (digit light on dark). Any image in a `<digit>/` folder
counts when reading, so a user can also bring their own scans; they go through the same preprocessing.
"""
from __future__ import annotations

import io
import os
import secrets
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnmodel import atomic
from nnmodel.errors import DataError
from nnmodel.images.preprocess import preprocess_files

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def save_feedback(folder: str | os.PathLike, pixels: np.ndarray, label: int) -> Path:
    """Write `pixels` (28x28 float in [0, 1]) as `<folder>/<label>/<time>-<random>.png`; returns the path.
    Atomic and never overwrites (`atomic.write_new_file`)."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise ValueError(f"label must be a digit 0-9, not {label!r}")
    pixels = np.asarray(pixels, dtype=np.float32).reshape(28, 28)
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return atomic.write_new_file(Path(folder) / str(int(label)), new_feedback_name, buffer.getvalue())


def add_images(folder: str | os.PathLike, images: list[str], label: int) -> tuple[list[Path], list[str]]:
    """Save image files as labelled examples of `label` (each put into MNIST form by the shared
    preprocessing, as the viewer saves drawings); returns the saved paths and one line per image
    that could not be read or was blank (the others are saved all the same)."""
    saved, problems = [], []
    for image, result in zip(images, preprocess_files([str(i) for i in images])):
        if isinstance(result, DataError):
            problems.append(str(result))
        elif result.blank:
            problems.append(f"{image}: blank image, not saved")
        else:
            saved.append(save_feedback(folder, result.pixels, label))
    return saved, problems


def new_feedback_name() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.png"


def labelled_files(folder: str | os.PathLike) -> list[tuple[Path, int]]:
    """(path, digit) for every image under `<folder>/<digit>/`, sorted by path; hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such feedback folder (expected <digit>/<image> files)")
    found = []
    for digit in range(10):
        sub = folder / str(digit)
        if sub.is_dir():
            found += [(p, digit) for p in sorted(sub.iterdir())
                      if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return found


def load_feedback(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images under `folder` in MNIST form: uint8 (n, 28, 28), labels uint8 (n,), and the problems
    ("<file>: <why>") of files that were unreadable or blank, which are left out."""
    images, labels, _, problems = load_labelled(folder)
    return images, labels, problems


def load_labelled(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[Path], list[str]]:
    """load_feedback, with the path of each image kept (n,) beside its pixels and label."""
    images, labels, paths, problems = [], [], [], []
    files = labelled_files(folder)
    for (path, digit), result in zip(files, preprocess_files([str(p) for p, _ in files])):
        if isinstance(result, DataError):
            problems.append(str(result))
        elif result.blank:
            problems.append(f"{path}: blank image, left out")
        else:
            images.append(np.round(result.pixels * 255).astype(np.uint8))
            labels.append(digit)
            paths.append(path)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), [], problems
    return np.stack(images), np.asarray(labels, np.uint8), paths, problems
