"""Batch prediction flow: classify every image under folders into one CSV, a task per chunk."""
from __future__ import annotations

import sys
import time

from prefect import flow

from tasks.predict import classify_chunk, merge_predictions, plan_batch


@flow(name="digits-predict")
def predict_flow(folders: list[str], out: str, model_dir: str, recursive: bool = False, chunk_size: int | None = None,
                 min_confidence: float = 0.0, resume: bool = False, processes: int = 0,
                 show_progress: bool = False) -> dict:
    """plan -> classify chunks in parallel -> merge; returns the summary.

    Chunks run concurrently on the flow's task runner; with `processes` > 0 each chunk's CPU work
    goes to a local process pool of that size (use 0 on Dask, whose workers are processes already)."""
    started = time.time()
    plan = plan_batch(folders, out, recursive, chunk_size, resume, max(processes, 1))
    futures = [classify_chunk.submit(model_dir, todo, part, min_confidence, processes)
               for part, todo in plan["chunks"]]
    done, total, counts = plan["skipped"], plan["total"], list(plan["counts"])
    live = sys.stderr.isatty()
    for i, future in enumerate(futures):
        counts.append(future.result())
        done += counts[-1]["rows"]
        if show_progress and (live or (i + 1) % max(1, len(futures) // 10) == 0):
            rate = (done - plan["skipped"]) / max(time.time() - started, 1e-9)
            line = f"  classified {done:,}/{total:,} files ({rate:,.0f} images/s)"
            print("\r" + line if live else line, end="" if live else "\n", file=sys.stderr, flush=True)
    if show_progress and live and futures:
        print(file=sys.stderr)
    summary = merge_predictions(out, folders, resume, started, counts)
    return {**summary, "skipped": plan["skipped"]}
