"""Prefect tasks for the data layer: fetch + verify the raw arrays, normalise + split to Parquet."""
from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import feedback, sources, splits


def _retry_on_network_error(task, task_run, state) -> bool:
    """Retry a failed fetch only for network trouble; bad data will not get better by retrying."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, (ConnectionError, TimeoutError))


def load_source(source: str, dataset_name: str, download_dir: Path, base_url: str | None = None,
                log=print) -> tuple[sources.RawData, str]:
    """Read the arrays from `source` ('bundled', 'url' or a local path); returns (raw, origin)."""
    if source == "bundled":
        return sources.read_bundled(), f"bundled: {sources.BUNDLED_WHEEL}==1.2.9 {sources.BUNDLED_FILE}"
    if source == "url":
        raw = sources.download_mnist(base_url, download_dir, log=log)
        return raw, f"url: {base_url or ', '.join(sources.DEFAULT_MIRRORS)}"
    return sources.read_local(source), f"path: {Path(source).resolve()}"


@task(name="fetch-and-verify", retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_network_error,
      cache_policy=NO_CACHE)
def fetch_raw(artifacts: str, source: str = "bundled", dataset_name: str = "mnist",
              base_url: str | None = None) -> str:
    """Read MNIST from a source, verify its SHA-256 digests, write the raw layer; returns its folder."""
    logger = get_run_logger()
    root = Path(artifacts)
    raw, origin = load_source(source, dataset_name, root / "raw" / "downloads", base_url, log=logger.info)
    record = sources.verify(raw, dataset_name, origin)
    folder = sources.raw_dir_for(root, record)
    cached = (folder / "raw.json").is_file()
    sources.write_raw(raw, record, root)
    logger.info("raw layer %s (%s; %s)", folder, record["verified"], "already present" if cached else "written")
    return str(folder)


@task(name="normalise-and-split", cache_policy=NO_CACHE)
def prepare_data(artifacts: str, raw_dir: str, validation_size: int = 5000, seed: int = 0,
                 refresh: bool = False) -> str:
    """Write train/validation/test Parquet splits and a manifest; returns the data folder."""
    logger = get_run_logger()
    root = Path(artifacts)
    raw_record = sources.read_raw_record(raw_dir)
    target = splits.data_dir_for(root, raw_record, validation_size, seed)
    if not refresh and splits.manifest_is_complete(target):
        logger.info("cache hit: %s already holds these splits", target)
        return str(target)
    raw, raw_record = sources.read_raw(raw_dir)
    folder, _ = splits.prepare_splits(raw, raw_record, root, validation_size, seed, refresh=True)
    logger.info("wrote splits to %s", folder)
    return str(folder)


@task(name="fold-in-feedback", cache_policy=NO_CACHE)
def fold_feedback_data(artifacts: str, data_dir: str, feedback_dir: str | None) -> str:
    """Add the labelled feedback images (<digit>/<image>) to the training split; returns the data folder
    to train on (the same one when there is no feedback)."""
    logger = get_run_logger()
    if not feedback_dir:
        return data_dir
    folder, record = feedback.fold_feedback(Path(artifacts), data_dir, feedback_dir, log=logger.warning)
    if record is None:
        logger.info("no feedback images in %s", feedback_dir)
    else:
        logger.info("folded %d feedback images (digest %s) into %s", record["count"], record["digest"][:12], folder)
    return str(folder)
