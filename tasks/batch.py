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
from collections import Counter
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.modelfile import load_model
from nnmodel.preprocess import Preprocessed, preprocess_files

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
                with os.scandir(base) as listing:  # file types come with the listing: no stat per file
                    entries += [(folder, e.name) for e in listing if not e.name.startswith(".") and e.is_file()]
            except OSError as exc:
                errors.append(error_row(folder, ".", f"cannot read folder ({exc.strerror})"))
                continue
    order = {folder: i for i, folder in enumerate(folders)}
    entries.sort(key=lambda e: (order[e[0]], e[1]))
    return entries, errors


def error_row(folder: str, path: str, message: str) -> list:
    """A CSV row (COLUMNS order) for a file or folder that could not be read."""
    return [folder, path, "", "", *[""] * 10, "error", message]


@functools.lru_cache(maxsize=4)
def cached_model(model_dir: str, stamp: float):
    return load_model(model_dir)[0]


def classify_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0) -> list[list]:
    """CSV rows (lists in COLUMNS order) for (folder, relative path) files; every file gets a row."""
    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    results = preprocess_files([os.path.join(folder, rel) for folder, rel in files])
    readable = [i for i, r in enumerate(results) if isinstance(r, Preprocessed) and not r.blank]
    proba = net.predict_proba(np.stack([results[i].pixels.reshape(784) for i in readable])) if readable else None
    # one "%.6f" string per probability, formatted in one pass (np.char.mod is slower)
    texts = list(map("{:.6f}".format, proba.ravel().tolist())) if readable else []
    rows = []
    for (folder, rel), result in zip(files, results):
        if isinstance(result, Exception):
            rows.append(error_row(folder, rel, str(result).replace(os.path.join(folder, rel), rel, 1)))
        elif result.blank:
            rows.append([folder, rel, "", "", *[""] * 10, "blank", ""])
        else:
            rows.append(None)
    digits = proba.argmax(axis=1).tolist() if readable else []
    for k, (i, digit) in enumerate(zip(readable, digits)):
        text = texts[10 * k: 10 * k + 10]
        status = "ok" if proba[k, digit] >= min_confidence else "low_confidence"
        rows[i] = [files[i][0], files[i][1], digit, text[digit], *text, status, ""]
    return rows


def classify_to_part(model_dir: str, todo: str, part: str, min_confidence: float = 0.0) -> dict:
    """Classify the (folder, path) pairs listed in the JSON file `todo`, write their rows to the part
    file `part` atomically, then remove `todo`; returns the part's counts."""
    files = [tuple(f) for f in json.loads(Path(todo).read_text())]
    rows = classify_files(model_dir, files, min_confidence)
    write_rows(Path(part), rows)
    Path(todo).unlink(missing_ok=True)
    return count_rows(rows)


def count_rows(rows) -> dict:
    """{"rows", "status": {status: n}, "digits": {digit: n}} of CSV rows (lists in COLUMNS order)."""
    status, digits = Counter(), Counter()
    for row in rows:
        status[row[14]] += 1
        if row[14] in ("ok", "low_confidence"):
            digits[str(row[2])] += 1
    return {"rows": sum(status.values()), "status": {s: status.get(s, 0) for s in STATUSES},
            "digits": {str(d): digits.get(str(d), 0) for d in range(10)}}


def add_counts(counts: list[dict]) -> dict:
    total = {"rows": 0, "status": Counter(), "digits": Counter()}
    for c in counts:
        total["rows"] += c["rows"]
        total["status"].update(c["status"])
        total["digits"].update(c["digits"])
    return {"rows": total["rows"], "status": {s: total["status"].get(s, 0) for s in STATUSES},
            "digits": {str(d): total["digits"].get(str(d), 0) for d in range(10)}}


_POOLS: dict[int, object] = {}


def process_pool(workers: int):
    """A pool of `workers` processes forked from a clean server that has this module loaded, made once
    per process and reused by every chunk (starting it costs ~0.1 s, not Prefect's seconds)."""
    if workers not in _POOLS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tasks.batch"])
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=one_blas_thread)
    return _POOLS[workers]


def one_blas_thread() -> None:
    """Pool workers already fill the cores: a BLAS thread pool in each would only fight the others."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def write_rows(path: Path, rows: list[list], durable: bool = False) -> Path:
    """Write rows (lists in COLUMNS order, with a header) to `path` atomically (all or nothing, even
    if killed). Part files skip fsync (`durable=False`): a kill cannot lose them, only a power cut,
    and `--resume` then redoes them; the merged CSV is always synced."""
    with atomic.atomic_path(path, durable=durable) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    return path


def read_keys(path: Path):
    """(folder, path) of every row of a CSV written here."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for row in reader:
            yield row[0], row[1]


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def done_keys(out: Path) -> set[tuple[str, str]]:
    """(folder, path) of rows already written: finished parts and, if present, the final CSV."""
    sources = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    if out.is_file():
        sources.append(out)
    return {key for src in sources for key in read_keys(src)}


def next_part_number(out: Path) -> int:
    parts = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    return int(parts[-1].stem.split("-")[1]) + 1 if parts else 0


def merge_parts(out: Path, folders: list[str], resume: bool, counts: list[dict] | None = None) -> dict:
    """Merge the part files into `out` atomically and remove them; returns the row counts.

    A fresh run's parts are sorted and disjoint by construction, so they are concatenated as bytes.
    A resumed run (whose parts, and old CSV, can interleave) is merged row by row: a streaming k-way
    merge ordered by (folder as given, path), each row kept once.
    """
    parts = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    if not resume:
        with atomic.atomic_path(out) as tmp:
            with open(tmp, "wb") as sink:
                sink.write((",".join(COLUMNS) + "\n").encode())
                for part in parts:
                    with open(part, "rb") as src:
                        src.readline()  # header
                        shutil.copyfileobj(src, sink)
        shutil.rmtree(parts_dir(out), ignore_errors=True)
        return add_counts(counts or [])
    order = {folder: i for i, folder in enumerate(folders)}
    sources = parts + ([out] if out.is_file() else [])

    def keyed(src):
        with open(src, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                yield (order.get(row[0], len(order)), row[0], row[1]), row

    seen, kept = set(), []
    with atomic.atomic_path(out) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for key, row in heapq.merge(*(keyed(s) for s in sources), key=lambda kr: kr[0]):
                if key in seen:  # a row can only come once, even if a part was written twice
                    continue
                seen.add(key)
                writer.writerow(row)
                kept.append((row[2], row[14]))
    shutil.rmtree(parts_dir(out), ignore_errors=True)
    return count_rows([[None, None, digit, *[None] * 11, status] for digit, status in kept])


def auto_chunk_size(n_files: int, workers: int) -> int:
    """One chunk per worker, 256 to 5,000 files: every task run has a fixed cost in Prefect, so fewer,
    larger chunks are faster (BENCHMARKS.md: the previous two chunks per worker were slower), while
    5,000 files bound the work lost to a kill. (Memory per chunk is bounded by preprocess_files'
    batches, whatever the image sizes.)"""
    return int(min(5000, max(256, -(-n_files // max(workers, 1)))))


def chunked(items: list, size: int) -> list[list]:
    return [items[i: i + size] for i in range(0, len(items), size)]


def write_summary(out: Path, summary: dict) -> Path:
    return atomic.write_json(out.with_name(out.name + ".summary.json"), summary)
