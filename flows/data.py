"""Data flow: fetch and verify MNIST, then normalise and split it into Parquet."""
from __future__ import annotations

from prefect import flow

from tasks.data import fetch_raw, prepare_data


@flow(name="digits-data")
def data_flow(artifacts: str, source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
              validation_size: int = 5000, split_seed: int = 0, refresh: bool = False, prepare: bool = True) -> str:
    """fetch -> verify -> (normalise + split); returns the data folder (or the raw folder)."""
    raw_dir = fetch_raw(artifacts, source, dataset_name, base_url)
    if not prepare:
        return raw_dir
    return prepare_data(artifacts, raw_dir, validation_size, split_seed, refresh)
