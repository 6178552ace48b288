"""Prefect tasks for batch prediction: plan chunks, classify a chunk into a part file, merge parts."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from nnmodel import atomic
from tasks import batch


@task(name="plan-batch", cache_policy=NO_CACHE)
def plan_batch(folders: list[str], out: str, recursive: bool, chunk_size: int | None, resume: bool,
               workers: int = 1) -> dict:
    """List the files, drop those already done (when resuming), and cut the rest into chunks
    (`chunk_size` files each; None: one chunk per worker, 256 to 5,000 files each).

    Each chunk's file list goes to a `.todo.json` file beside its part, so tasks pass paths.
    Returns {"chunks": [[part path, todo path], ...], "skipped": n, "total": n,
    "counts": [counts of rows already written as parts (unreadable folders)]}.
    """
    out_path = Path(out)
    files, folder_errors = batch.list_files(folders, recursive)
    parts = batch.parts_dir(out_path)
    skipped = 0
    if resume:
        done = batch.done_keys(out_path)
        before = len(files)
        files = [f for f in files if f not in done]
        folder_errors = [e for e in folder_errors if (e[0], e[1]) not in done]
        skipped = before - len(files)
    else:
        shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True, exist_ok=True)
    if not chunk_size:
        chunk_size = batch.auto_chunk_size(len(files), workers)
    first = batch.next_part_number(out_path)
    counts = []
    if folder_errors:
        batch.write_rows(parts / f"part-{first:06d}.csv", folder_errors)
        counts.append(batch.count_rows(folder_errors))
        first += 1
    chunks = []
    for i, chunk in enumerate(batch.chunked(files, chunk_size)):
        todo = parts / f"part-{first + i:06d}.todo.json"
        atomic.write_text(todo, json.dumps(chunk), durable=False)  # redone by --resume if lost
        chunks.append([str(parts / f"part-{first + i:06d}.csv"), str(todo)])
    get_run_logger().info("%d files to classify in %d chunks (%d already done)", len(files), len(chunks), skipped)
    return {"chunks": chunks, "skipped": skipped, "total": len(files) + skipped + len(folder_errors),
            "counts": counts}


@task(name="classify-chunk", retries=1, retry_delay_seconds=0, cache_policy=NO_CACHE)
def classify_chunk(model_dir: str, todo: str, part: str, min_confidence: float = 0.0, processes: int = 0) -> dict:
    """Classify the files listed in `todo` into the part file `part` (atomically); returns its counts.

    With `processes`, the work runs in this machine's shared process pool (true parallelism for the
    CPU-bound decoding); with 0 it runs here (as on a Dask worker, already its own process)."""
    if processes:
        return batch.process_pool(processes).submit(batch.classify_to_part, model_dir, todo, part,
                                                    min_confidence).result()
    return batch.classify_to_part(model_dir, todo, part, min_confidence)


@task(name="merge-predictions", cache_policy=NO_CACHE)
def merge_predictions(out: str, folders: list[str], resume: bool, started: float, counts: list[dict]) -> dict:
    """Merge the part files into the final CSV (atomically) and write `<out>.summary.json`."""
    summary = batch.merge_parts(Path(out), folders, resume, counts)
    seconds = time.time() - started
    summary.update({"out": out, "seconds": round(seconds, 3),
                    "images_per_second": round(summary["rows"] / seconds, 1) if seconds > 0 else None})
    batch.write_summary(Path(out), summary)
    return summary
