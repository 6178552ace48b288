"""A second model family, added as any family is (one module, one line in the families table, these
tests): multinomial logistic regression trains through `digits train --family logistic`, registers,
predicts through `digits predict`, is explained by `digits explain` (which says it has no units) and
drives the viewer, without any other module knowing it."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from nnmodel.model import modelfile
from nnmodel.model.families import FAMILIES, new_model
from nnmodel.model.logistic import Logistic
from tests.helpers.data import write_digits
from tests.helpers.processes import run_digits


def blobs(n=400, k=3, d=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.random((k, d))
    y = rng.integers(0, k, n)
    return np.clip(centers[y] + rng.normal(0, 0.05, (n, d)), 0, 1).astype(np.float32), y


def test_the_family_is_in_the_table_and_follows_the_estimator_surface():
    from sklearn.base import clone

    assert FAMILIES["logistic"] == "nnmodel.model.logistic:Logistic"
    model = new_model("logistic", {"max_iter": 30, "n_inputs": 20, "n_classes": 3})
    assert isinstance(model, Logistic) and clone(model).get_params() == model.get_params()
    X, y = blobs()
    assert model.fit(X, y) is model and model.score(X, y) > 0.98
    assert model.predict_proba(X).shape == (400, 3)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1, atol=1e-5)
    assert model.history_[-1]["loss"] < model.history_[0]["loss"]
    with pytest.raises(ValueError, match="lam must be a finite number"):
        Logistic(lam=-1).fit(X, y)


def test_its_score_gradient_is_exact(mnist_raw):
    model = Logistic(max_iter=20).fit(mnist_raw.train_images[:2000].reshape(-1, 784) / np.float32(255),
                                      mnist_raw.train_labels[:2000])
    x = mnist_raw.test_images[0].reshape(784) / 255.0
    digit = int(model.predict(x[None])[0])
    gradient, h = model.input_gradient(x, digit), 1e-2
    for i in (100, 300, 400, 500):
        step = np.zeros(784)
        step[i] = h
        change = (model.decision_function(x + step)[0, digit] - model.decision_function(x - step)[0, digit]) / (2 * h)
        assert change == pytest.approx(gradient[i], rel=1e-3, abs=1e-4)
    assert model.units() is None and model.unit_contributions(x, digit) is None and model.thetas() is None


def test_its_model_files_round_trip_bit_identically(tmp_path, mnist_raw):
    model = Logistic(max_iter=10).fit(mnist_raw.train_images[:1000].reshape(-1, 784) / np.float32(255),
                                      mnist_raw.train_labels[:1000])
    modelfile.save_model(model, tmp_path / "a")
    back, meta = modelfile.load_model(tmp_path / "a")
    assert meta["family"] == "logistic" and isinstance(back, Logistic)
    modelfile.save_model(back, tmp_path / "b")
    assert (tmp_path / "a" / "model.npz").read_bytes() == (tmp_path / "b" / "model.npz").read_bytes()


@pytest.mark.slow  # trains through the real flow on the bundled MNIST
def test_it_trains_registers_predicts_explains_and_drives_the_viewer(tmp_path, server_env, mnist_raw, xvfb,
                                                                     link_prepared):
    artifacts = link_prepared(tmp_path / "artifacts")
    trained = run_digits(["--artifacts", str(artifacts), "train", "--family", "logistic", "--maxiter", "25", "-q"],
                         env=server_env)
    assert trained.returncode == 0, trained.stderr
    assert "family logistic" in trained.stderr and "promoted to current" in trained.stderr
    listed = run_digits(["--artifacts", str(artifacts), "models", "list"], env=server_env)
    assert "logistic regression 784-10 (softmax)" in listed.stdout and "(logistic)" in listed.stdout
    assert not list((artifacts / "models").glob("*/Theta1.txt"))  # not the original project's shape

    folder = tmp_path / "in"
    write_digits(folder, mnist_raw.test_images[:60])
    out = tmp_path / "out.csv"
    predicted = run_digits(["--artifacts", str(artifacts), "predict", str(folder), "--out", str(out)], env=server_env)
    assert predicted.returncode == 0, predicted.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 60 and all(r["status"] in ("ok", "several_digits") for r in rows)
    right = [int(r["predicted"]) == mnist_raw.test_labels[int(r["path"][6:11])] for r in rows]
    assert np.mean(right) > 0.8

    picture = tmp_path / "why.png"
    explained = run_digits(["--artifacts", str(artifacts), "explain", str(folder / rows[0]["path"]), "--out",
                            str(picture)])
    assert explained.returncode == 0, explained.stderr
    assert "this model has no units to show" in explained.stderr
    assert Image.open(picture).size == (780, 470)

    import tkinter as tk

    from tests.helpers.viewer import make_viewer, pump

    root = tk.Tk(className="digits")
    try:
        viewer = make_viewer(root, artifacts)
        app = next(viewer)
        assert "logistic regression" in app.model.description
        app.inside_on.set(True)
        app.apply_inside()
        app.open_image(str(folder / rows[0]["path"]))
        pump(root, 0.3)
        assert root.title() == f"digits - {rows[0]['predicted']} ({float(rows[0]['confidence']):.1%})"
        assert app.inside.units_title.cget("text") == "This model has no units to show."
        viewer.close()
    finally:
        root.destroy()
        shutil.rmtree(artifacts, ignore_errors=True)
