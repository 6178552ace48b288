"""The estimator: scikit-learn's surface (clone, get/set_params), parameter checks, presets, and
L-BFGS-B fitting on real MNIST subsets (progress, early stopping, seeds, BLAS limits)."""
from __future__ import annotations

import numpy as np
import pytest

from nnmodel.model.families import family_class
from nnmodel.model.lbfgs import single_threaded_scipy_blas
from nnmodel.model.mlp import MLP
from nnmodel.model.presets import PRESETS, recipe


@pytest.fixture(scope="module")
def subset(mnist_raw):
    X = mnist_raw.train_images[:3000].reshape(-1, 784).astype(np.float32) / 255
    y = mnist_raw.train_labels[:3000]
    Xv = mnist_raw.train_images[3000:4000].reshape(-1, 784).astype(np.float32) / 255
    return X, y, Xv, mnist_raw.train_labels[3000:4000]


def blobs(n=300, k=3, d=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.random((k, d))
    y = rng.integers(0, k, n)
    return np.clip(centers[y] + rng.normal(0, 0.05, (n, d)), 0, 1), y


def test_fit_predict_score_surface():
    X, y = blobs()
    net = MLP(hidden_sizes=(8,), n_inputs=20, n_classes=3, seed=1, max_iter=40)
    assert net.fit(X, y) is net
    assert net.predict_proba(X).shape == (300, 3)
    assert net.predict(X).shape == (300,)
    assert net.score(X, y) > 0.95
    assert net.n_iter_ <= 40 and len(net.history_) == net.n_iter_
    assert net.history_[-1]["loss"] < net.history_[0]["loss"]
    assert list(net.classes_) == [0, 1, 2] and net.n_examples_ == 300


def test_every_hyperparameter_is_an_init_argument_and_clone_works():
    from sklearn.base import clone

    net = MLP(hidden_sizes=(12,), lam=0.3, max_iter=5, n_inputs=20, n_classes=3)
    params = net.get_params(deep=True)
    assert params["hidden_sizes"] == (12,) and params["lam"] == 0.3 and params["max_iter"] == 5
    twin = clone(net)
    assert twin is not net and twin.get_params() == params and not hasattr(twin, "params_")
    X, y = blobs()
    fitted = clone(net).fit(X, y)
    assert not hasattr(net, "params_") and hasattr(fitted, "params_")
    assert net.set_params(lam=1.0, max_iter=7) is net and net.lam == 1.0 and net.max_iter == 7
    with pytest.raises(ValueError, match="no parameter 'hidden'"):
        net.set_params(hidden=5)


def test_fit_takes_its_settings_from_init_only():
    X, y = blobs()
    a = MLP(hidden_sizes=(8,), n_inputs=20, n_classes=3, max_iter=3).fit(X, y)
    assert a.n_iter_ == 3
    Xi, yi = np.random.default_rng(0).random((50, 784)).astype(np.float32), np.arange(50) % 10
    assert MLP(hidden_sizes=(4,), max_iter=2).fit(Xi, yi).n_examples_ == 50  # what it is given, no copies


@pytest.mark.parametrize("name, value, message", [
    ("hidden_sizes", (0,), "hidden_sizes must be"), ("hidden_sizes", [], "hidden_sizes must be"),
    ("max_iter", 0, "max_iter must be a whole number"), ("max_iter", 2.5, "max_iter must be"),
    ("lam", -1, "lam must be a finite number"), ("lam", float("nan"), "lam must be a finite number"),
    ("lam", float("inf"), "lam must be"), ("activation", "softsign", "activation must be one of"),
    ("output", "linear", "output must be one of"), ("dtype", "float16", "dtype must be one of"),
    ("patience", 0, "patience must be"), ("init_scale", 0, "init_scale must be"),
    ("memory", True, "memory must be"),
])
def test_bad_hyperparameters_are_refused_before_fitting(name, value, message):
    net = MLP().set_params(**{name: value})
    with pytest.raises(ValueError, match=message):
        net.fit(np.zeros((10, 784), np.float32), np.arange(10))
    with pytest.raises(ValueError, match=message):
        MLP.check_params(net.get_params())


def test_presets_are_complete_recipes():
    for name in PRESETS:
        chosen = recipe(name)
        assert chosen["preset"] == name and chosen["family"] == PRESETS[name]["family"]
        cls = family_class(chosen["family"])
        assert set(chosen["params"]) == set(cls().get_params()), name
        assert cls(**chosen["params"]).get_params() == chosen["params"]
    assert recipe("default", max_iter=5, seed=None)["params"]["max_iter"] == 5  # None leaves the preset's value
    seeded = recipe("default", seed=7, copies=2, distortions=["blur"])
    assert seeded["seed"] == seeded["params"]["seed"] == 7 and seeded["copies"] == [["blur"], ["blur"]]
    assert "copies" not in seeded["params"]
    default = PRESETS["default"]["copies"]
    assert recipe("default", copies=5)["copies"] == [default[i % len(default)] for i in range(5)]
    assert recipe("default", copies=0)["copies"] == [] and recipe("mlp", copies=1)["copies"] == [
        ["style", "affine", "stroke", "blur"]]
    assert recipe("default", distortions=["lowres", "mouse"])["copies"] == [["lowres", "mouse"]] * len(default)
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        recipe("fast")
    with pytest.raises(ValueError, match="unknown model family 'tree'"):
        recipe(family="tree")


@pytest.mark.parametrize("overrides, message", [
    ({"distortions": ["smudge"]}, "unknown distortion 'smudge'"), ({"copies": -1}, "copies must be"),
    ({"copies": 101}, "copies must be"), ({"hidden_sizes": [0]}, "hidden_sizes must be"),
    ({"seed": -2}, "seed must be"), ({"init_scale": 0.1}, "the conv family has no parameter 'init_scale'"),
])
def test_bad_recipes_are_refused_with_the_option_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        recipe("default", **overrides)
    from nnmodel.images import distort, hands
    from nnmodel.model import presets

    assert presets.KINDS == distort.KINDS and presets.HANDS == hands.HANDS  # the CLI's light copies of the names


def test_fit_learns_mnist_subset_with_progress(subset):
    X, y, Xv, yv = subset
    seen = []
    net = MLP(hidden_sizes=(32,), max_iter=30, eval_every=10, memory=20)
    net.fit(X, y, validation=(Xv, yv), progress=seen.append)
    assert net.score(Xv, yv) > 0.85
    assert [i["iteration"] for i in seen] == list(range(1, 31))
    assert all("val_accuracy" in i for i in seen if i["iteration"] % 10 == 0)
    assert seen[-1]["eta_seconds"] == 0 and seen[-1]["loss"] < seen[0]["loss"]
    assert all(i["grad_norm"] > 0 for i in seen)


def test_early_stopping_keeps_the_best_validation_parameters(subset):
    X, y, Xv, yv = subset
    net = MLP(hidden_sizes=(64,), lam=1.0, max_iter=300, eval_every=5, patience=3)
    net.fit(X[:300], y[:300], validation=(Xv, yv))
    assert net.n_iter_ < 300 and net.stop_reason_.startswith("early stop")
    best = max(i["val_accuracy"] for i in net.history_ if "val_accuracy" in i)
    assert net.score(Xv, yv) == pytest.approx(best)
    assert net.kept_iteration_ < net.n_iter_ and net.history_[net.kept_iteration_ - 1]["val_accuracy"] == best


def test_seeded_training_is_reproducible(subset):
    X, y, _, _ = subset
    a = MLP(hidden_sizes=(16,), seed=3, max_iter=5).fit(X[:500], y[:500])
    b = MLP(hidden_sizes=(16,), seed=3, max_iter=5).fit(X[:500], y[:500])
    c = MLP(hidden_sizes=(16,), seed=4, max_iter=5).fit(X[:500], y[:500])
    np.testing.assert_array_equal(a.params_[0][0], b.params_[0][0])
    assert not np.array_equal(a.params_[0][0], c.params_[0][0])


def test_blas_limit_is_restored():
    from threadpoolctl import threadpool_info

    before = [(p["filepath"], p["num_threads"]) for p in threadpool_info()]
    with single_threaded_scipy_blas():
        inside = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
        assert all(n == 1 for path, n in inside.items() if "/scipy.libs/" in path)
        numpy_pools = {path: n for path, n in before if "/numpy.libs/" in path}
        assert all(inside[path] == n for path, n in numpy_pools.items())  # NumPy's BLAS keeps its threads
    assert [(p["filepath"], p["num_threads"]) for p in threadpool_info()] == before
