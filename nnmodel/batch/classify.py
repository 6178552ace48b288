"""Classifying one chunk of files: decode and preprocess them, predict, make one row per file
(or read each as a whole number), and write the chunk's part file."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from nnmodel.batch.cells import cell
from nnmodel.batch.parts import write_part
from nnmodel.batch.pool import run_in_pool
from nnmodel.batch.rows import SEVERAL_DIGITS, blank_row, error_row, not_a_number_row
from nnmodel.images.decode import pixel_limit
from nnmodel.images.preprocess import Preprocessed, preprocess_files
from nnmodel.model.modelfile import load_model
from nnmodel.reject import THRESHOLD, read_digits, reason


@functools.lru_cache(maxsize=4)
def cached_model(model_dir: str, stamp: float):
    return load_model(model_dir)[0]


def classify_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0,
                   reject_threshold: float = THRESHOLD) -> list[list]:
    """Rows (lists in COLUMNS order) for (folder, relative path) files; every file gets one."""
    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    results = preprocess_files([os.path.join(folder, rel) for folder, rel in files])
    readable = [i for i, r in enumerate(results) if isinstance(r, Preprocessed) and not r.blank]
    if readable:
        reading = read_digits(net, np.stack([results[i].pixels.reshape(784) for i in readable]), reject_threshold)
        proba = reading.proba
    # one "%.6f" string per probability, formatted in one pass (np.char.mod is slower)
    texts = list(map("{:.6f}".format, proba.ravel().tolist())) if readable else []
    rows = []
    for (folder, rel), result in zip(files, results):
        if isinstance(result, Exception):
            rows.append(error_row(folder, rel, str(result).replace(os.path.join(folder, rel), rel, 1)))
        elif result.blank:
            rows.append(blank_row(folder, rel))
        else:
            rows.append(None)
    digits = proba.argmax(axis=1).tolist() if readable else []
    for k, (i, digit) in enumerate(zip(readable, digits)):
        text = texts[10 * k: 10 * k + 10]
        status, error = "ok" if proba[k, digit] >= min_confidence else "low_confidence", ""
        if results[i].aspect >= SEVERAL_DIGITS:
            status = "several_digits"
        elif reading.rejected[k]:
            status, error = "not_a_digit", reason(float(reading.not_a_digit[k]), reject_threshold)
        rows[i] = [cell(files[i][0]), cell(files[i][1]), digit, text[digit], *text, status, error]
    return rows


def read_number_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0,
                      reject_threshold: float = THRESHOLD) -> list[list]:
    """Rows (lists in NUMBER_COLUMNS order) for (folder, relative path) files, each read as a whole
    number; every file gets one."""
    from nnmodel.images.numbers import read_numbers

    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    rows = []
    paths = [os.path.join(folder, rel) for folder, rel in files]
    for (folder, rel), read in zip(files, read_numbers(paths, net, reject_threshold)):
        if isinstance(read, Exception):
            rows.append(error_row(folder, rel, str(read).replace(os.path.join(folder, rel), rel, 1), numbers=True))
        elif read.blank and read.marks:  # ink, but nothing on it is a digit
            rows.append(not_a_number_row(folder, rel, read.marks, reject_threshold))
        elif read.blank:
            rows.append(blank_row(folder, rel, numbers=True))
        else:
            status = "ok" if read.confidence >= min_confidence else "low_confidence"
            rows.append([cell(folder), cell(rel), read.text, len(read.digits), f"{read.confidence:.6f}",
                         ";".join(f"{d.confidence:.6f}" for d in read.digits),
                         ";".join(f"{d.box[0]}:{d.box[1]}" for d in read.digits), status, ""])
    return rows


def classify_to_part(model_dir: str, files: list[tuple[str, str]], part: str, min_confidence: float = 0.0,
                     numbers: bool = False, max_pixels: int | None = None,
                     reject_threshold: float = THRESHOLD) -> dict:
    """Classify `files` (or read them as numbers) into the part file `part` (atomically); returns its
    counts. Images of up to `max_pixels` pixels are read (None: the usual limit, see decode.pixel_limit)."""
    read = read_number_files if numbers else classify_files
    with pixel_limit(max_pixels):
        rows = read(model_dir, [tuple(f) for f in files], min_confidence, reject_threshold)
        return write_part(Path(part), rows, numbers)


def classify_chunk(model_dir: str, files: list[tuple[str, str]], part: str, min_confidence: float = 0.0,
                   processes: int = 0, numbers: bool = False, max_pixels: int | None = None,
                   reject_threshold: float = THRESHOLD) -> dict:
    """`classify_to_part`, in the local pool of `processes` processes when one is open (see
    nnmodel.batch.pool), else here (as on a Dask worker, already its own process)."""
    return run_in_pool(processes, classify_to_part, model_dir, files, part, min_confidence, numbers, max_pixels,
                       reject_threshold)
