"""Labelled feedback images: `<folder>/<digit>/<image>`, saved by the viewer, folded in by retrains.

Saved files are 28x28 grey PNGs in MNIST form (digit light on dark), named `<time>-<content>.png`
where `<content>` is the start of the pixels' SHA-256: an image already saved as that digit is not
saved again (so a retrain trigger counts new images only). Any image in a `<digit>/` folder counts
when reading, so a user can also bring their own scans; they go through the same preprocessing.
"""
from __future__ import annotations

import hashlib
import io
import os
import secrets
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from nnmodel import atomic
from nnmodel.errors import DataError
from nnmodel.images.preprocess import preprocess_files

DIGIT_FOLDERS = {str(d) for d in range(10)}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class Saved(NamedTuple):
    """Where an image is saved, and whether this call saved it (False: it was there already)."""

    path: Path
    new: bool


def save_feedback(folder: str | os.PathLike, pixels: np.ndarray, label: int) -> Saved:
    """Write `pixels` (28x28 float in [0, 1]) as `<folder>/<label>/<time>-<content>.png`, unless the same
    image is already saved as `label` (then nothing is written). Atomic and never overwrites
    (`atomic.write_new_file`)."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise ValueError(f"label must be a digit 0-9, not {label!r}")
    grey = np.round(np.clip(np.asarray(pixels, dtype=np.float32).reshape(28, 28), 0, 1) * 255).astype(np.uint8)
    content = hashlib.sha256(grey.tobytes()).hexdigest()[:CONTENT_CHARS]
    digit_folder = Path(folder) / str(int(label))
    for twin in sorted(digit_folder.glob(f"*-{content}.png")) if digit_folder.is_dir() else []:
        try:
            if np.array_equal(np.asarray(Image.open(twin)), grey):
                return Saved(twin, False)
        except (OSError, ValueError):
            continue  # unreadable: not the same image
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    names = feedback_names(content)
    return Saved(atomic.write_new_file(digit_folder, lambda: next(names), buffer.getvalue()), True)


def add_images(folder: str | os.PathLike, images: list[str], label: int) -> tuple[list[Path], list[str]]:
    """Save image files as labelled examples of `label` (each put into MNIST form by the shared
    preprocessing, as the viewer saves drawings); returns the newly saved paths and one line per image
    that could not be read, was blank or was saved already (the others are saved all the same)."""
    saved, problems = [], []
    for image, result in zip(images, preprocess_files([str(i) for i in images])):
        if isinstance(result, DataError):
            problems.append(str(result))
        elif result.blank:
            problems.append(f"{image}: blank image, not saved")
        else:
            path, new = save_feedback(folder, result.pixels, label)
            if new:
                saved.append(path)
            else:
                problems.append(f"{image}: already saved as {label} ({path.name}), not saved again")
    return saved, problems


CONTENT_CHARS = 12   # hex digits of the pixels' SHA-256 in a saved file's name


def feedback_names(content: str):
    """File names to try for a new image: `<time>-<content>.png`, then, should that be taken (the same
    image being saved at the same moment by another process), `<time>-<random>-<content>.png`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    yield f"{stamp}-{content}.png"
    while True:
        yield f"{stamp}-{secrets.token_hex(2)}-{content}.png"


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


def skipped_entries(folder: str | os.PathLike) -> list[str]:
    """One line per entry of `folder` that is not a digit's folder (0-9) and so is not read: a folder
    named `seven`, images lying at the top; hidden entries aside."""
    folder = Path(folder)
    skipped = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.name.startswith(".") or (entry.is_dir() and entry.name in DIGIT_FOLDERS):
            continue
        what = "a folder not named for a digit 0-9" if entry.is_dir() else "not inside a digit's folder (0-9)"
        skipped.append(f"{entry}{'/' if entry.is_dir() else ''}: {what}, skipped")
    return skipped


def load_feedback(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images under `folder` in MNIST form: uint8 (n, 28, 28), labels uint8 (n,), and the problems
    ("<file>: <why>") of files that were unreadable or blank, which are left out."""
    images, labels, _, problems = load_labelled(folder)
    return images, labels, problems


def load_labelled(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[Path], list[str]]:
    """load_feedback, with the path of each image kept (n,) beside its pixels and label."""
    images, labels, paths, problems = [], [], [], skipped_entries(folder)
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
