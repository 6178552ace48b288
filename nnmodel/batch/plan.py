"""Planning a batch: list the files, drop those already done (when resuming), cut the rest into chunks."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from nnmodel.batch.cells import cell
from nnmodel.batch.listing import list_files
from nnmodel.batch.parts import done_keys, next_part_number, part_path, parts_dir, write_part
from nnmodel.batch.rows import COL, error_row

MAX_CHUNK, MIN_CHUNK = 5000, 256


def plan_batch(folders: list[str], out: str | os.PathLike, recursive: bool = False, chunk_size: int | None = None,
               resume: bool = False, workers: int = 1, numbers: bool = False) -> dict:
    """List the files, drop those already done (when resuming), cut the rest into chunks.

    Returns {"chunks": [[part file, [(folder, path), ...]], ...], "skipped": n, "total": n,
    "counts": [counts of rows already written as parts (unreadable folders)], "started": time}.
    `chunk_size` None: one chunk per worker, MIN_CHUNK to MAX_CHUNK files each.
    """
    out, started = Path(out), time.time()
    files, unreadable = list_files(folders, recursive)
    folder_errors = [error_row(*e, numbers=numbers) for e in unreadable]
    parts = parts_dir(out)
    skipped = 0
    if resume:
        done = done_keys(out, numbers)
        before = len(files)
        files = [f for f in files if (cell(f[0]), cell(f[1])) not in done]
        folder_errors = [e for e in folder_errors if (e[COL["folder"]], e[COL["path"]]) not in done]
        skipped = before - len(files)
    else:
        shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True, exist_ok=True)
    size = chunk_size or auto_chunk_size(len(files), workers)
    number = next_part_number(out)
    counts = []
    if folder_errors:
        counts.append(write_part(part_path(out, number), folder_errors, numbers))
        number += 1
    chunks = [[str(part_path(out, number + i)), files[start: start + size]]
              for i, start in enumerate(range(0, len(files), size))]
    return {"chunks": chunks, "skipped": skipped, "total": len(files) + skipped + len(folder_errors),
            "counts": counts, "started": started}


def auto_chunk_size(n_files: int, workers: int) -> int:
    """One chunk per worker, MIN_CHUNK to MAX_CHUNK files: every task run has a fixed cost in Prefect,
    so fewer, larger chunks are faster, while MAX_CHUNK bounds the work lost to a kill. (Memory per
    chunk is bounded by preprocess_files' batches, whatever the image sizes.)"""
    return int(min(MAX_CHUNK, max(MIN_CHUNK, -(-n_files // max(workers, 1)))))
