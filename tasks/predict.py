"""Prefect tasks for batch prediction: plan chunks, classify a chunk into a part file, merge parts."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import batch


@task(name="plan-batch", cache_policy=NO_CACHE)
def plan_batch(folders: list[str], out: str, recursive: bool, chunk_size: int, resume: bool) -> dict:
    """List the files, drop those already done (when resuming), and cut the rest into chunks.

    Returns {"chunks": [[part path, [(folder, path), ...]], ...], "skipped": n, "total": n}.
    """
    out_path = Path(out)
    files, folder_errors = batch.list_files(folders, recursive)
    parts = batch.parts_dir(out_path)
    skipped = 0
    if resume:
        done = batch.done_keys(out_path)
        before = len(files)
        files = [f for f in files if f not in done]
        folder_errors = [e for e in folder_errors if (e["folder"], e["path"]) not in done]
        skipped = before - len(files)
    else:
        shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True, exist_ok=True)
    first = batch.next_part_number(out_path)
    if folder_errors:
        batch.write_rows(parts / f"part-{first:06d}.csv", folder_errors)
        first += 1
    chunks = [[str(parts / f"part-{first + i:06d}.csv"), chunk]
              for i, chunk in enumerate(batch.chunked(files, chunk_size))]
    get_run_logger().info("%d files to classify in %d chunks (%d already done)", len(files), len(chunks), skipped)
    return {"chunks": chunks, "skipped": skipped, "total": len(files) + skipped + len(folder_errors)}


@task(name="classify-chunk", retries=1, retry_delay_seconds=0, cache_policy=NO_CACHE)
def classify_chunk(model_dir: str, files: list, part: str, min_confidence: float = 0.0) -> int:
    """Classify one chunk of files and write its rows to `part` atomically; returns the row count."""
    rows = batch.classify_files(model_dir, [tuple(f) for f in files], min_confidence)
    batch.write_rows(Path(part), rows)
    return len(rows)


@task(name="merge-predictions", cache_policy=NO_CACHE)
def merge_predictions(out: str, folders: list[str], resume: bool, started: float) -> dict:
    """Merge the part files into the final CSV (atomically) and write `<out>.summary.json`."""
    summary = batch.merge_parts(Path(out), folders, include_existing=resume)
    seconds = time.time() - started
    summary.update({"out": out, "seconds": round(seconds, 3),
                    "images_per_second": round(summary["rows"] / seconds, 1) if seconds > 0 else None})
    batch.write_summary(Path(out), summary)
    return summary
