"""Tasks of the data layers: fetch and verify, normalise and split, fold in feedback."""
from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from nnmodel.data import distorted, raw, splits, with_feedback
from nnmodel.store.layout import Layout


def retry_on_network_error(task, task_run, state) -> bool:
    """Retry a failed fetch only for network trouble (DownloadError is a ConnectionError): bad data
    will not get better by retrying."""
    return isinstance(state.result(raise_on_failure=False), (ConnectionError, TimeoutError))


@task(name="fetch-and-verify", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_on_network_error,
      cache_policy=NO_CACHE)
def fetch_raw(artifacts: str, source: str = "bundled", dataset_name: str = "mnist",
              base_url: str | None = None) -> str:
    """Read MNIST from a source, verify its SHA-256 digests, write the raw layer; returns its folder."""
    return str(raw.fetch_raw(Layout(artifacts), source, dataset_name, base_url, log=get_run_logger().info))


@task(name="normalise-and-split", cache_policy=NO_CACHE)
def prepare_data(artifacts: str, raw_dir: str, validation_size: int = 5000, split_seed: int = 0,
                 refresh: bool = False) -> str:
    """Write train/validation/test Parquet splits and a manifest (cached by digest); returns the folder."""
    return str(splits.prepare_data(Layout(artifacts), raw_dir, validation_size, split_seed, refresh,
                                   log=get_run_logger().info))


@task(name="fold-in-feedback", cache_policy=NO_CACHE)
def fold_feedback(artifacts: str, data_dir: str, feedback_dir: str | None, use_feedback: bool = True) -> str:
    """Add the labelled feedback images (<digit>/<image>; default artifacts/feedback) to the training
    split; returns the data folder to train on (the same one when there is no feedback)."""
    return str(with_feedback.fold_feedback(Layout(artifacts), data_dir, feedback_dir, use_feedback,
                                           log=get_run_logger().info))


@task(name="distort-training-split", cache_policy=NO_CACHE)
def distort_training_split(artifacts: str, data_dir: str, preset: str = "default", overrides: dict | None = None,
                           family: str | None = None) -> str | None:
    """Write (or find, by digest) the layer of distorted copies of the training split that the
    recipe asks for; returns its folder, or None when it asks for none."""
    folder = distorted.distort_for_recipe(Layout(artifacts), data_dir, preset, overrides, family,
                                          log=get_run_logger().info)
    return None if folder is None else str(folder)
