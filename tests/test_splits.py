"""Stratified deterministic hold-out, Parquet round trip, content-addressed caching, atomic writes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnmodel.data import raw as raw_layer
from nnmodel.data import splits
from nnmodel.data.digests import sha256_file
from nnmodel.errors import DataError
from nnmodel.store.layout import Layout
from tests.helpers.data import tiny_raw


def prepare(root, raw, validation_size, seed=0, refresh=False):
    """The splits of `raw` (written to a raw layer first) under `root`; their folder."""
    layout = Layout(root)
    raw_dir = raw_layer.write_raw(layout, raw, raw_layer.verify(raw, "tiny", "test"))
    return splits.prepare_data(layout, raw_dir, validation_size, seed, refresh, log=lambda m: None)


def test_holdout_is_stratified_deterministic_and_sized(mnist_raw):
    labels = mnist_raw.train_labels
    a = splits.stratified_holdout(labels, 5000, seed=0)
    b = splits.stratified_holdout(labels, 5000, seed=0)
    c = splits.stratified_holdout(labels, 5000, seed=1)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 5000 and len(np.unique(a)) == 5000
    assert not np.array_equal(a, c)
    expected = np.bincount(labels, minlength=10) * 5000 / len(labels)
    assert np.all(np.abs(np.bincount(labels[a], minlength=10) - expected) <= 1)


def test_prepare_writes_disjoint_complete_splits(tmp_path):
    raw = tiny_raw(n_train=300, n_test=40)
    folder = prepare(tmp_path, raw, validation_size=50, seed=3)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 250, "validation": 50, "test": 40}
    assert sum(manifest["class_counts"]["validation"]) == 50
    idx = {}
    for name in splits.SPLITS:
        X, y = splits.read_split(folder / f"{name}.parquet")
        assert X.dtype == np.float32 and X.shape == (manifest["counts"][name], 784)
        assert X.min() >= 0.0 and X.max() <= 1.0
        import pyarrow.parquet as pq

        idx[name] = pq.read_table(folder / f"{name}.parquet", columns=["index"]).column("index").to_numpy()
        source_images = raw.test_images if name == "test" else raw.train_images
        source_labels = raw.test_labels if name == "test" else raw.train_labels
        np.testing.assert_array_equal(y, source_labels[idx[name]])
        np.testing.assert_allclose(X, source_images[idx[name]].reshape(-1, 784) / 255, atol=1e-7)
        assert manifest["files"][f"{name}.parquet"]["sha256"] == sha256_file(folder / f"{name}.parquet")
    assert not set(idx["train"]) & set(idx["validation"])
    assert len(idx["train"]) + len(idx["validation"]) == 300


def test_same_inputs_are_a_cache_hit_and_refresh_rewrites(tmp_path):
    raw = tiny_raw()
    folder = prepare(tmp_path, raw, validation_size=20)
    stamp = (folder / "train.parquet").stat().st_mtime_ns
    assert prepare(tmp_path, raw, validation_size=20) == folder
    assert (folder / "train.parquet").stat().st_mtime_ns == stamp
    assert prepare(tmp_path, raw, validation_size=30) != folder
    assert prepare(tmp_path, raw, validation_size=20, refresh=True) == folder
    assert (folder / "train.parquet").stat().st_mtime_ns != stamp


def test_interrupted_rewrite_keeps_previous_output(tmp_path, monkeypatch):
    raw = tiny_raw()
    folder = prepare(tmp_path, raw, validation_size=20)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def killed(table, path):
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-write

    monkeypatch.setattr(splits, "write_split", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare(tmp_path, raw, validation_size=20, refresh=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temp folders left


def test_unreadable_split_names_file(tmp_path):
    bad = tmp_path / "train.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="train.parquet: unreadable Parquet split"):
        splits.read_split(bad)
