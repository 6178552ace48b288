"""Batch prediction flow: classify every image under folders into one CSV, a task per chunk."""
from __future__ import annotations

import sys
import time

from prefect import flow

from tasks.predict import classify_chunk, merge_predictions, plan_batch


@flow(name="digits-predict")
def predict_flow(folders: list[str], out: str, model_dir: str, recursive: bool = False, chunk_size: int = 500,
                 min_confidence: float = 0.0, resume: bool = False, show_progress: bool = False) -> dict:
    """plan -> classify chunks in parallel (the flow's task runner) -> merge; returns the summary."""
    started = time.time()
    plan = plan_batch(folders, out, recursive, chunk_size, resume)
    futures = [classify_chunk.submit(model_dir, files, part, min_confidence) for part, files in plan["chunks"]]
    done, total = plan["skipped"], plan["total"]
    for future in futures:
        done += future.result()
        if show_progress:
            rate = (done - plan["skipped"]) / max(time.time() - started, 1e-9)
            print(f"\r  classified {done:,}/{total:,} files ({rate:,.0f} images/s)", end="", file=sys.stderr, flush=True)
    if show_progress and futures:
        print(file=sys.stderr)
    summary = merge_predictions(out, folders, resume, started)
    return {**summary, "skipped": plan["skipped"]}
