"""Batch prediction flow: classify every image under folders into one CSV, a task per chunk."""
from __future__ import annotations

from prefect import flow
from prefect.utilities.annotations import quote

from nnmodel.progress import BatchProgress
from tasks.predict import classify_chunk, merge_predictions, plan_batch, resolve_model


@flow(name="digits-predict")
def predict_flow(folders: list[str], out: str, model_dir: str | None = None, artifacts: str = "artifacts",
                 model: str | None = None, recursive: bool = False, chunk_size: int | None = None,
                 min_confidence: float = 0.0, resume: bool = False, processes: int = 0,
                 numbers: bool = False, show_progress: bool = False, max_pixels: int | None = None,
                 reject_threshold: float = 0.5) -> dict:
    """plan -> classify chunks in parallel -> merge; returns the summary.

    The model is `model_dir`, else version `model` (default: the current one) of `artifacts`.
    Chunks run concurrently on the flow's task runner; `processes` > 0 sends each chunk's CPU work to
    the local pool of that size that the caller opened (nnmodel.batch.pool.local_pool, as `digits
    predict` does); 0 runs it in the task's own thread (on Dask, whose workers are processes already).
    `numbers`: read each image as a whole number (one row per file, see nnmodel.batch). `max_pixels`:
    images up to this size are read (None: the usual limit against decompression bombs).
    `reject_threshold`: an image (or a number's glyph) the model finds at least this likely to be no
    digit is marked not_a_digit (nnmodel.reject)."""
    if model_dir is None:
        model_dir = resolve_model(artifacts, model)
    plan = plan_batch(folders, out, recursive, chunk_size, resume, max(processes, 1), numbers)
    # quote(files): a chunk's thousands of paths are data, not futures for Prefect to look through
    # (on Dask, processes=0, the list goes as it is: Dask's serialisation would drop the quote)
    futures = [classify_chunk.submit(model_dir, quote(files) if processes else files, part, min_confidence,
                                     processes, numbers, max_pixels, reject_threshold)
               for part, files in plan["chunks"]]
    progress = BatchProgress(plan["total"], plan["skipped"], show=show_progress)
    counts = list(plan["counts"])
    for future in futures:
        counts.append(future.result())
        progress.add(counts[-1]["rows"])
    progress.close()
    summary = merge_predictions(out, folders, resume, plan["started"], counts, numbers)
    return {**summary, "skipped": plan["skipped"]}
