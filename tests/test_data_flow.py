"""End-to-end: the fetch + prepare flow on the bundled source, in real Prefect."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnmodel.data import splits
from nnmodel.data.raw import MNIST_ARRAY_SHA256
from nnmodel.errors import DataError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(prefect_harness, tmp_path_factory):
    from flows.data import data_flow

    root = tmp_path_factory.mktemp("artifacts")
    return root, data_flow(str(root))


def test_flow_writes_verified_raw_layer_and_splits(prepared, mnist_raw):
    root, folder = prepared
    manifest = json.loads((root / "data" / folder.split("/")[-1] / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 55000, "validation": 5000, "test": 10000}
    assert manifest["raw_sha256"] == MNIST_ARRAY_SHA256
    assert manifest["verified"].startswith("canonical MNIST")
    X, y = splits.read_split(f"{folder}/test.parquet")
    np.testing.assert_array_equal(y, mnist_raw.test_labels)
    np.testing.assert_array_equal(np.rint(X * 255).astype(np.uint8), mnist_raw.test_images.reshape(-1, 784))
    raw_dirs = list((root / "raw").iterdir())
    assert [d.name for d in raw_dirs] == ["mnist-" + manifest["raw_digest"][:12]]


def test_rerun_is_a_cache_hit(prepared):
    from flows.data import data_flow

    root, folder = prepared
    stamps = {p.name: p.stat().st_mtime_ns for p in (root / "data").glob("*/*")}
    assert data_flow(str(root)) == folder
    assert {p.name: p.stat().st_mtime_ns for p in (root / "data").glob("*/*")} == stamps


def test_flow_with_bad_local_source_fails_with_named_file(prefect_harness, tmp_path):
    from flows.data import data_flow

    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="mnist.npz: unreadable .npz"):
        data_flow(str(tmp_path / "artifacts"), source=str(bad))
    assert not (tmp_path / "artifacts" / "data").exists()
