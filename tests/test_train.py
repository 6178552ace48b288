"""L-BFGS-B fitting on real MNIST subsets: progress, early stopping, jittered copies, BLAS limits."""
from __future__ import annotations

import numpy as np
import pytest

from nnmodel.network import Network
from nnmodel.train import PRESETS, jittered_copies, shift_images, single_threaded_scipy_blas


@pytest.fixture(scope="module")
def subset(mnist_raw):
    X = mnist_raw.train_images[:3000].reshape(-1, 784).astype(np.float32) / 255
    y = mnist_raw.train_labels[:3000]
    Xv = mnist_raw.train_images[3000:4000].reshape(-1, 784).astype(np.float32) / 255
    return X, y, Xv, mnist_raw.train_labels[3000:4000]


def test_shift_images_moves_pixels_and_zero_fills():
    img = np.zeros((1, 4, 4), dtype=np.uint8)
    img[0, 0, 0] = 9
    img[0, 3, 3] = 5
    moved = shift_images(img, 1, 1)
    assert moved[0, 1, 1] == 9 and moved.sum() == 9  # the corner pixel fell off the edge


def test_jittered_copies_are_one_pixel_shifts(subset):
    X, y, _, _ = subset
    Xa, ya = jittered_copies(X[:200], y[:200], copies=2, seed=4)
    assert Xa.shape == (600, 784) and np.array_equal(ya, np.tile(y[:200], 3))
    np.testing.assert_array_equal(Xa[:200], X[:200])
    for i in range(200, 600):
        original = X[i % 200].reshape(1, 28, 28)
        assert any(np.array_equal(shift_images(original, dy, dx)[0].ravel(), Xa[i])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    np.testing.assert_array_equal(jittered_copies(X[:200], y[:200], 2, seed=4)[0], Xa)


def test_fit_learns_mnist_subset_with_progress(subset):
    X, y, Xv, yv = subset
    seen = []
    net = Network(hidden_sizes=(32,)).fit(X, y, maxiter=30, X_val=Xv, y_val=yv, eval_every=10,
                                          progress=seen.append, memory=20)
    assert net.score(Xv, yv) > 0.85
    assert [i["iteration"] for i in seen] == list(range(1, 31))
    assert all("val_accuracy" in i for i in seen if i["iteration"] % 10 == 0)
    assert seen[-1]["eta_seconds"] == 0 and seen[-1]["loss"] < seen[0]["loss"]
    assert all(i["grad_norm"] > 0 for i in seen)


def test_early_stopping_keeps_the_best_validation_parameters(subset):
    X, y, Xv, yv = subset
    net = Network(hidden_sizes=(64,), lam=1.0).fit(X[:300], y[:300], maxiter=300, X_val=Xv, y_val=yv,
                                                   eval_every=5, patience=3, memory=50)
    assert net.n_iter_ < 300 and net.stop_reason_.startswith("early stop")
    best = max(i["val_accuracy"] for i in net.history_ if "val_accuracy" in i)
    assert net.score(Xv, yv) == pytest.approx(best)


def test_seeded_training_is_reproducible(subset):
    X, y, _, _ = subset
    a = Network(hidden_sizes=(16,), seed=3).fit(X[:500], y[:500], maxiter=5)
    b = Network(hidden_sizes=(16,), seed=3).fit(X[:500], y[:500], maxiter=5)
    np.testing.assert_array_equal(a.params_[0][0], b.params_[0][0])


def test_blas_limit_is_restored():
    from threadpoolctl import threadpool_info

    before = [(p["filepath"], p["num_threads"]) for p in threadpool_info()]
    with single_threaded_scipy_blas():
        inside = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
        assert all(n == 1 for path, n in inside.items() if "scipy" in path)
    assert [(p["filepath"], p["num_threads"]) for p in threadpool_info()] == before


def test_presets_are_complete():
    for name, recipe in PRESETS.items():
        assert {"hidden_sizes", "hidden", "output", "lam", "maxiter", "memory", "jitter_copies",
                "init_scale"} <= set(recipe), name
