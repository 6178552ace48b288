"""Batch prediction of image folders, as plain functions (no Prefect here).

Files are listed in a stable order (folder as given, then path), split into chunks, and each chunk
becomes one CSV part file written atomically in `<out>.parts/`. Merging the parts writes the final
CSV atomically. A killed run keeps its finished parts, so `resume` redoes only the missing files.
"""
from __future__ import annotations

import csv
import functools
import heapq
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.errors import DigitsError
from nnmodel.modelfile import load_model
from nnmodel.preprocess import preprocess_image

COLUMNS = ["folder", "path", "predicted", "confidence", *[f"p{d}" for d in range(10)], "status", "error"]
STATUSES = ("ok", "low_confidence", "blank", "error")


def list_files(folders: list[str], recursive: bool = False) -> tuple[list[tuple[str, str]], list[dict]]:
    """(folder as given, path relative to it) for every non-hidden file, sorted; plus error rows for
    sub-folders that could not be read (so they are reported, not silently dropped)."""
    entries, errors = [], []
    for folder in folders:
        base = Path(folder)
        if recursive:
            def onerror(exc, folder=folder, base=base):
                rel = os.path.relpath(exc.filename, base) if exc.filename else "."
                errors.append(error_row(folder, rel + "/", f"cannot read folder ({exc.strerror})"))
            for dirpath, dirnames, filenames in os.walk(base, onerror=onerror):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel_dir = os.path.relpath(dirpath, base)
                for name in filenames:
                    if not name.startswith(".") and os.path.isfile(os.path.join(dirpath, name)):
                        entries.append((folder, os.path.normpath(os.path.join(rel_dir, name))))
        else:
            try:
                names = os.listdir(base)
            except OSError as exc:
                errors.append(error_row(folder, ".", f"cannot read folder ({exc.strerror})"))
                continue
            entries += [(folder, name) for name in names if not name.startswith(".") and (base / name).is_file()]
    order = {folder: i for i, folder in enumerate(folders)}
    entries.sort(key=lambda e: (order[e[0]], e[1]))
    return entries, errors


def error_row(folder: str, path: str, message: str) -> dict:
    return {"folder": folder, "path": path, "predicted": "", "confidence": "",
            **{f"p{d}": "" for d in range(10)}, "status": "error", "error": message}


@functools.lru_cache(maxsize=4)
def cached_model(model_dir: str, stamp: float):
    return load_model(model_dir)[0]


def classify_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0) -> list[dict]:
    """Rows for (folder, relative path) files: preprocessing each, predicting the readable ones at once."""
    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    rows, batch, batch_rows = [], [], []
    for folder, rel in files:
        path = os.path.join(folder, rel)
        try:
            result = preprocess_image(path)
        except DigitsError as exc:
            rows.append(error_row(folder, rel, str(exc).replace(path, rel, 1)))
            continue
        except Exception as exc:  # any decoder failure is this file's problem, not the batch's
            rows.append(error_row(folder, rel, f"{rel}: {type(exc).__name__}: {exc}"))
            continue
        if result.blank:
            rows.append({**error_row(folder, rel, ""), "status": "blank"})
            continue
        row = {"folder": folder, "path": rel}
        rows.append(row)
        batch.append(result.pixels.reshape(784))
        batch_rows.append(row)
    if batch:
        proba = net.predict_proba(np.stack(batch))
        for row, p in zip(batch_rows, proba):
            digit = int(p.argmax())
            row.update({"predicted": digit, "confidence": f"{p[digit]:.6f}",
                        **{f"p{d}": f"{p[d]:.6f}" for d in range(10)},
                        "status": "ok" if p[digit] >= min_confidence else "low_confidence", "error": ""})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Write rows (with header) to `path` atomically."""
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_rows(path: Path):
    with open(path, newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def done_keys(out: Path) -> set[tuple[str, str]]:
    """(folder, path) of rows already written: finished parts and, if present, the final CSV."""
    sources = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    if out.is_file():
        sources.append(out)
    return {(row["folder"], row["path"]) for src in sources for row in read_rows(src)}


def next_part_number(out: Path) -> int:
    parts = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    return int(parts[-1].stem.split("-")[1]) + 1 if parts else 0


def merge_parts(out: Path, folders: list[str], include_existing: bool) -> dict:
    """Merge sorted part files (and the old CSV when resuming) into `out` atomically; returns counts.

    Rows are ordered by (folder as given, path); streaming k-way merge keeps memory flat.
    """
    order = {folder: i for i, folder in enumerate(folders)}
    sources = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    if include_existing and out.is_file():
        sources.append(out)

    def keyed(src):
        for row in read_rows(src):
            yield (order.get(row["folder"], len(order)), row["folder"], row["path"]), row

    status, digits, seen, total = Counter(), Counter(), set(), 0
    with atomic.atomic_path(out) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
            writer.writeheader()
            for key, row in heapq.merge(*(keyed(s) for s in sources), key=lambda kr: kr[0]):
                if key in seen:  # a row can only come once, even if a part was written twice
                    continue
                seen.add(key)
                writer.writerow(row)
                total += 1
                status[row["status"]] += 1
                if row["status"] in ("ok", "low_confidence"):
                    digits[row["predicted"]] += 1
    shutil.rmtree(parts_dir(out), ignore_errors=True)
    return {"rows": total, "status": {s: status.get(s, 0) for s in STATUSES},
            "digits": {str(d): digits.get(str(d), 0) for d in range(10)}}


def chunked(items: list, size: int) -> list[list]:
    return [items[i: i + size] for i in range(0, len(items), size)]


def write_summary(out: Path, summary: dict) -> Path:
    return atomic.write_json(out.with_name(out.name + ".summary.json"), summary)
