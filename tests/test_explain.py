"""Why the network answered: gradient x input against finite differences, unit contributions against
the score they add up to, the map against the ink, the picture and the live overlay's speed."""
from __future__ import annotations

import time

import numpy as np
import pytest

from nnmodel import explain
from nnmodel.model.dense import ACTIVATIONS, forward, init_params
from nnmodel.model.mlp import MLP
from nnmodel.reports import drawing
from nnmodel.reports.explanation import explanation_picture


@pytest.fixture(scope="module")
def net(trained_model):
    from nnmodel.model.modelfile import load_model

    return load_model(trained_model)[0]


@pytest.fixture(scope="module")
def digits(mnist_raw):
    """The first 200 test digits (200, 784) in [0, 1] and their labels."""
    return mnist_raw.test_images[:200].reshape(-1, 784) / 255.0, mnist_raw.test_labels[:200]


def score(net, x, digit):
    """The digit's logit for one image (784,), in float64."""
    return forward(net.params_, x[None, :], net.activation)[-1][0, digit]


def deep_toy(activation: str) -> MLP:
    """An untrained 784-12-8-10 float64 network with non-zero biases: the backward pass through two
    hidden layers, for every activation."""
    rng = np.random.default_rng(1)
    net = MLP(hidden_sizes=(12, 8), activation=activation, dtype="float64")
    net.params_ = [(W, rng.normal(0, 0.3, size=b.shape)) for W, b in init_params(net.sizes, 1, np.float64, 0.2)]
    return net


def check_gradient_times_input(net, x):
    digit = int(net.predict(x[None, :])[0])
    attribution = explain.attribution(net, x).ravel()
    h = 1e-6
    for i in np.flatnonzero(x > 0.3)[::25]:  # a spread of ink pixels
        step = np.zeros(784)
        step[i] = h
        gradient = (score(net, x + step, digit) - score(net, x - step, digit)) / (2 * h)
        assert attribution[i] == pytest.approx(gradient * x[i], rel=1e-5, abs=1e-9)
    # the sum is the score's rate of change as all the ink grows together: d/dt score(t x) at t = 1
    rate = (score(net, (1 + h) * x, digit) - score(net, (1 - h) * x, digit)) / (2 * h)
    assert attribution.sum() == pytest.approx(rate, rel=1e-5, abs=1e-9)


def test_gradient_times_input_matches_finite_differences(net, digits):
    for x in digits[0][:3]:
        check_gradient_times_input(net, x)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_times_input_through_two_hidden_layers(activation, digits):
    check_gradient_times_input(deep_toy(activation), digits[0][0])


def test_unit_contributions_add_up_to_the_score(net, digits):
    b2 = net.params_[1][1].astype(np.float64)
    for x in digits[0][:20]:
        digit = int(net.predict(x[None, :])[0])
        contributions = explain.unit_contributions(net, x)
        assert contributions.shape == (net.params_[0][0].shape[0],)
        assert contributions.sum() + b2[digit] == pytest.approx(score(net, x, digit), rel=1e-9, abs=1e-9)


def test_attribution_points_at_the_ink_that_makes_the_answer(net, digits):
    X, _ = digits
    on_ink, drop_top, drop_random = [], [], []
    rng = np.random.default_rng(0)
    for x in X[:100]:
        digit = int(net.predict(x[None, :])[0])
        a = explain.attribution(net, x).ravel()
        positive = np.maximum(a, 0)
        on_ink.append(positive[x > 0.1].sum() / positive.sum())
        # deleting the 20 pixels the map credits most costs the answer more than deleting 20 random ink pixels
        top = np.argsort(-a)[:20]
        random = rng.choice(np.flatnonzero(x > 0.1), 20, replace=False)
        for chosen, losses in ((top, drop_top), (random, drop_random)):
            erased = x.copy()
            erased[chosen] = 0
            losses.append(score(net, x, digit) - score(net, erased, digit))
    assert np.mean(on_ink) > 0.95 and np.min(on_ink) > 0.8
    assert np.mean(drop_top) > 2 * np.mean(drop_random) > 0


def test_importance_ignores_a_unit_that_never_changes(net, digits):
    silent = MLP(hidden_sizes=(64,))
    (W1, b1), (W2, b2) = net.params_
    W1, b1 = W1.copy(), b1.copy()
    W1[5], b1[5] = 0, 10.0  # always fully on: a second bias, whatever the image
    silent.params_ = [(W1, b1), (W2, b2)]
    without_sample = silent.unit_importance()
    with_sample = silent.unit_importance(digits[0])
    assert without_sample.shape == with_sample.shape == (64,)
    assert without_sample[5] > 0 and with_sample[5] < 1e-9 and (with_sample >= 0).all()


def test_explanation_and_its_picture(net, digits):
    x, label = digits[0][0], digits[1][0]
    e = explain.explain(net, x.reshape(28, 28), top=6)
    assert e.digit == label == int(net.predict(x[None, :])[0])
    assert e.proba.shape == (10,) and e.proba.sum() == pytest.approx(1, abs=1e-5)
    assert e.attribution.shape == e.pixels.shape == (28, 28)
    np.testing.assert_allclose(e.attribution, explain.attribution(net, x))
    sizes = [abs(c) for _, c in e.top_units]
    assert len(e.top_units) == 6 and sizes == sorted(sizes, reverse=True)
    assert sizes[0] == pytest.approx(np.abs(explain.unit_contributions(net, x)).max())
    uint8 = explain.explain(net, (x * 255).round().astype(np.uint8))
    assert uint8.digit == e.digit

    picture = explanation_picture(e)
    assert picture.size == (780, 470) and picture.mode == "RGB"
    colours = np.asarray(picture).reshape(-1, 3)
    assert len(np.unique(colours @ [1 << 16, 1 << 8, 1])) > 200
    red = (colours[:, 0] > 150) & (colours[:, 2] < 100)
    blue = (colours[:, 2] > 120) & (colours[:, 0] < 80)
    assert red.sum() > 100 and blue.sum() > 100


def test_weight_images_are_the_first_layer(net):
    images = net.units().pictures
    assert images.shape == (64, 28, 28)
    np.testing.assert_array_equal(images[3].ravel(), net.params_[0][0][3])


def test_overlay_and_explain_are_fast_enough_for_a_live_panel(net, digits):
    x = digits[0][1]
    e = explain.explain(net, x)
    picture = drawing.overlay(x, e.attribution, 8)
    assert picture.size == (224, 224)
    assert np.asarray(picture).std() > 10
    blank = np.asarray(drawing.overlay(np.zeros(784), np.zeros((28, 28)), 8))
    assert (blank == 255).all()  # nothing drawn, nothing divided by zero

    def seconds_per_call(call, repeats=10):
        call()
        started = time.perf_counter()
        for _ in range(repeats):
            call()
        return (time.perf_counter() - started) / repeats

    # loose bounds for a busy machine; measured about 0.2 ms each
    assert seconds_per_call(lambda: drawing.overlay(x, e.attribution, 8)) < 0.020
    assert seconds_per_call(lambda: explain.explain(net, x)) < 0.010
