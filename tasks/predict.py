"""Tasks of batch prediction: plan the chunks, classify one chunk into a part file, merge the parts."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from nnmodel.batch import classify, parts, plan
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry


@task(name="resolve-model", cache_policy=NO_CACHE)
def resolve_model(artifacts: str, version: str | None = None) -> str:
    """The folder of a registered model version (default: the current model)."""
    return str(Registry(Layout(artifacts)).resolve(version))


@task(name="plan-batch", cache_policy=NO_CACHE)
def plan_batch(folders: list[str], out: str, recursive: bool, chunk_size: int | None, resume: bool,
               workers: int = 1, numbers: bool = False) -> dict:
    """List the files, drop those already done (when resuming), cut the rest into chunks."""
    return plan.plan_batch(folders, out, recursive, chunk_size, resume, workers, numbers)


@task(name="classify-chunk", retries=1, retry_delay_seconds=0, cache_policy=NO_CACHE)
def classify_chunk(model_dir: str, files: list, part: str, min_confidence: float = 0.0, processes: int = 0,
                   numbers: bool = False, max_pixels: int | None = None, reject_threshold: float = 0.5) -> dict:
    """Classify one chunk of files (or read them as numbers) into its part file (atomically); returns its counts."""
    return classify.classify_chunk(model_dir, files, part, min_confidence, processes, numbers, max_pixels,
                                   reject_threshold)


@task(name="merge-predictions", cache_policy=NO_CACHE)
def merge_predictions(out: str, folders: list[str], resume: bool, started: float, counts: list[dict],
                      numbers: bool = False) -> dict:
    """Merge the part files into the final CSV (atomically) and write `<out>.summary.json`."""
    return parts.merge_predictions(out, folders, resume, started, counts, numbers)
