"""The conv family: its head's gradient against finite differences, the fast features against a direct
(slow) convolution, the input gradient through pooling and correlation against finite differences,
model files that round-trip bit-identically, and a tiny model of the family through `digits predict`,
`--numbers`, `digits explain` and the viewer's look-inside panel."""
from __future__ import annotations

import csv
import itertools
import shutil

import numpy as np
import pytest
from scipy.signal import correlate2d

from nnmodel.model import conv_features as cf
from nnmodel.model import modelfile
from nnmodel.model.conv import ConvFeatures
from nnmodel.model.dense import cost_and_grad, pack, unpack
from nnmodel.model.families import new_model


@pytest.fixture(scope="module")
def conv_model(mnist_raw):
    """A small real conv model (two stages, two heads, test-time shifts): 6,000 training images,
    10 + 30 L-BFGS-B iterations a head (about 95% on test)."""
    X = mnist_raw.train_images[:6000].reshape(-1, 784) / np.float32(255)
    return ConvFeatures(filters=6, stage2_filters=8, patches=20_000, hidden_sizes=(32,), max_iter=30,
                        warmup=[[0.5, 10]], heads=2).fit(X, mnist_raw.train_labels[:6000])


def slow_stage(maps: np.ndarray, filters: np.ndarray, pool: int) -> np.ndarray:
    """One stage by the book: scipy's 2-d correlation of each input channel with the filter's slice,
    summed; ReLU of +z and -z; max-pooling each map: (n, s, s, 2k) with the +z channels first."""
    out = []
    for image in np.asarray(maps, np.float64):
        z = [sum(correlate2d(image[..., c], f[..., c], mode="valid") for c in range(image.shape[2]))
             for f in filters.astype(np.float64)]
        rectified = np.stack([np.maximum(r, 0) for r in z] + [np.maximum(-r, 0) for r in z])
        s = rectified.shape[1] // pool
        pooled = rectified[:, : s * pool, : s * pool].reshape(len(rectified), s, pool, s, pool).max(axis=(2, 4))
        out.append(pooled.transpose(1, 2, 0))
    return np.array(out)


@pytest.mark.parametrize("size, pool, size2, pool2", [(5, 2, 3, 2), (5, 3, 0, 0), (3, 2, 2, 1), (4, 4, 0, 0)])
def test_the_feature_stages_match_a_direct_convolution(mnist_raw, size, pool, size2, pool2):
    images = mnist_raw.test_images[:30] / np.float32(255)
    maps = images.reshape(-1, 28, 28, 1)
    stages = [(cf.learn_filters(maps, 6, size, 5000, seed=1), pool)]
    expected = slow_stage(maps, stages[0][0], pool)
    if size2:
        stages.append((cf.learn_filters(expected.astype(np.float32), 5, size2, 5000, seed=1), pool2))
        expected = slow_stage(expected, stages[1][0], pool2)
    fast = cf.features(images, stages, threads=2)
    assert fast.shape == (30, expected[0].size) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, expected.reshape(30, -1), atol=5e-5)
    # threads change nothing; uint8 input is scaled like the float image
    many = np.repeat(images, 40, axis=0)  # several chunks
    np.testing.assert_array_equal(cf.features(many, stages, threads=1), cf.features(many, stages))
    np.testing.assert_allclose(cf.features(mnist_raw.test_images[:30], stages), fast, atol=1e-4)


def test_pca_filters_are_orthonormal_zero_sum_and_seeded(mnist_raw):
    maps = (mnist_raw.train_images[:2000] / np.float32(255)).reshape(-1, 28, 28, 1)
    filters = cf.learn_filters(maps, 8, 5, 20_000, seed=3)
    assert filters.shape == (8, 5, 5, 1)
    flat = filters.reshape(8, -1).astype(np.float64)
    np.testing.assert_allclose(flat @ flat.T, np.eye(8), atol=1e-5)
    np.testing.assert_allclose(flat.sum(axis=1), 0, atol=1e-5)  # mean-removed patches: no DC component
    np.testing.assert_array_equal(cf.learn_filters(maps, 8, 5, 20_000, seed=3), filters)
    assert not np.array_equal(cf.learn_filters(maps, 8, 5, 20_000, seed=4), filters)


def test_the_head_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(25, 12)), np.eye(10)[rng.integers(0, 10, 25)]
    sizes = (12, 7, 10)
    flat = rng.normal(0, 0.3, sum(a * b + b for a, b in itertools.pairwise(sizes)))

    def cost(f):
        return cost_and_grad(unpack(f, sizes, np.float64), X, Y, 0.7, "relu")

    gradient = pack(cost(flat)[1])
    numeric = np.array([(cost(flat + e)[0] - cost(flat - e)[0]) / 2e-6 for e in np.eye(len(flat)) * 1e-6])
    assert np.linalg.norm(gradient - numeric) / np.linalg.norm(gradient + numeric) < 1e-6


def test_the_input_gradient_goes_exactly_through_both_stages(conv_model, mnist_raw):
    x = mnist_raw.test_images[3].reshape(784).astype(np.float64) / 255
    digit = int(conv_model.predict(x[None])[0])
    gradient = conv_model.input_gradient(x, digit)
    base = conv_model.decision_function(x[None])[0, digit]
    scores = []
    for i in np.flatnonzero(x > 0.3)[::15][:12]:
        step = np.zeros(784)
        step[i] = 1e-3
        plus = conv_model.decision_function((x + step)[None])[0, digit]
        minus = conv_model.decision_function((x - step)[None])[0, digit]
        right, left = (plus - base) / 1e-3, (base - minus) / 1e-3
        if abs(right - left) > 0.02 * max(abs(right), abs(left)) + 2e-3:
            continue  # a pooling window's winner changes within the step: a kink, no derivative to compare
        scores.append(((plus - minus) / 2e-3, gradient[i]))
    assert len(scores) >= 6, "too few pixels where the score is smooth to compare"
    numeric, exact = np.array(scores).T
    np.testing.assert_allclose(exact, numeric, rtol=0.02, atol=2e-3)


def test_fit_predict_and_the_estimator_surface(conv_model, mnist_raw):
    from sklearn.base import clone

    Xt = mnist_raw.test_images[:2000].reshape(-1, 784) / np.float32(255)
    assert conv_model.score(Xt, mnist_raw.test_labels[:2000]) > 0.93
    proba = conv_model.predict_proba(Xt[:50])
    assert proba.shape == (50, 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert conv_model.training_record()["iterations"] == 80  # two heads of 10 warm-up + 30
    assert clone(conv_model).get_params() == conv_model.get_params() and not hasattr(clone(conv_model), "head_")
    plain = clone(conv_model).set_params(test_shifts=0).with_arrays(conv_model.to_arrays())
    assert plain.score(Xt, mnist_raw.test_labels[:2000]) > 0.92
    assert not np.array_equal(plain.predict_proba(Xt[:50]), proba)  # the shifted copies count
    one = clone(conv_model).set_params(heads=1).with_arrays(
        {k: v for k, v in conv_model.to_arrays().items() if not k.startswith("h1_")})
    assert not np.array_equal(one.predict_proba(Xt[:50]), proba)  # the committee counts


@pytest.mark.parametrize("params, message", [
    ({"pool": 9}, "pool must be"), ({"filters": 0}, "filters must be"), ({"warmup": [[1.5, 10]]}, "warmup must be"),
    ({"warmup": [[0.5]]}, "warmup must be"), ({"test_shifts": 9}, "test_shifts must be"),
    ({"hidden_sizes": [0]}, "hidden_sizes must be")
])
def test_bad_hyperparameters_name_themselves(params, message):
    with pytest.raises(ValueError, match=message):
        new_model("conv", params)


def test_model_files_round_trip_bit_identically(conv_model, tmp_path, mnist_raw):
    modelfile.save_model(conv_model, tmp_path / "a")
    back, meta = modelfile.load_model(tmp_path / "a")
    assert meta["family"] == "conv" and isinstance(back, ConvFeatures)
    X = mnist_raw.test_images[:100].reshape(-1, 784) / np.float32(255)
    np.testing.assert_array_equal(back.predict_proba(X), conv_model.predict_proba(X))
    modelfile.save_model(back, tmp_path / "b")
    assert (tmp_path / "a" / "model.npz").read_bytes() == (tmp_path / "b" / "model.npz").read_bytes()
    assert (tmp_path / "a" / "model.json").read_text() == (tmp_path / "b" / "model.json").read_text()


def test_looking_inside_has_channels_maps_and_a_pixel_map(conv_model, mnist_raw):
    from nnmodel import explain
    from nnmodel.reports.explanation import explanation_picture

    x = mnist_raw.test_images[0]
    e = explain.explain(conv_model, x)
    assert e.units.name == "feature channel" and e.units.pictures.shape == (12, 5, 5)
    np.testing.assert_array_equal(e.units.pictures[6:], -e.units.pictures[:6])
    assert e.feature_maps.shape == (12, 12, 12) and e.attribution.shape == (28, 28)
    assert len(e.top_units) == 6 and e.score is not None
    assert (e.attribution[x == 0] == 0).all()  # the map points only at ink
    picture = explanation_picture(e)
    assert picture.size[0] == 780 and picture.size[1] > 470  # taller: the feature maps below
    assert conv_model.unit_importance().shape == (12,)
    importance = conv_model.unit_importance(mnist_raw.test_images[:20].reshape(-1, 784) / 255)
    assert importance.shape == (12,) and (importance >= 0).all() and importance.max() > 0


@pytest.mark.slow  # commands in their own processes, a window on Xvfb
def test_a_registered_conv_model_predicts_reads_numbers_explains_and_drives_the_viewer(
        conv_model, tmp_path, server_env, mnist_raw, xvfb):
    from nnmodel.store.registry import Registry
    from tests.helpers.data import write_digits
    from tests.helpers.number_images import random_numbers, write_numbers
    from tests.helpers.processes import run_digits

    artifacts = tmp_path / "artifacts"
    registry = Registry(artifacts)
    with registry.new_version() as (staging, version):
        modelfile.save_model(conv_model, staging, {"metrics": {"validation": {"accuracy": 0.95}}})
    registry.promote(version)

    folder = tmp_path / "in"
    write_digits(folder, mnist_raw.test_images[:40])
    out = tmp_path / "out.csv"
    done = run_digits(["--artifacts", str(artifacts), "predict", str(folder), "--out", str(out)], env=server_env)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    right = [int(r["predicted"]) == mnist_raw.test_labels[int(r["path"][6:11])] for r in rows]
    assert len(rows) == 40 and np.mean(right) > 0.9

    numbers = tmp_path / "numbers"
    items = random_numbers(6, seed=2, lengths=range(2, 4))
    write_numbers(numbers, items)
    out = tmp_path / "numbers.csv"
    done = run_digits(["--artifacts", str(artifacts), "predict", str(numbers), "--numbers", "--out", str(out)],
                      env=server_env)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as fh:
        read = [r["number"] for r in csv.DictReader(fh)]
    assert sum(r == item.text for r, item in zip(read, items)) >= 3

    picture = tmp_path / "why.png"
    done = run_digits(["--artifacts", str(artifacts), "explain", str(folder / rows[0]["path"]), "--out",
                       str(picture)])
    assert done.returncode == 0, done.stderr
    assert "strongest feature channels #" in done.stderr and picture.stat().st_size > 10_000

    import tkinter as tk

    from tests.helpers.viewer import make_viewer, pump

    root = tk.Tk(className="digits")
    try:
        viewer = make_viewer(root, artifacts)
        app = next(viewer)
        assert "conv features" in app.model.description
        app.inside_on.set(True)
        app.apply_inside()
        app.open_image(str(folder / rows[0]["path"]))
        pump(root, 0.3)
        assert root.title() == f"digits - {rows[0]['predicted']} ({float(rows[0]['confidence']):.1%})"
        assert app.inside.units_title.cget("text").startswith("Feature channels that moved it most")
        assert app.last_inside_ms > 0  # it ran; how fast is bench/gui.py's to say
        viewer.close()
    finally:
        root.destroy()
        shutil.rmtree(artifacts, ignore_errors=True)
