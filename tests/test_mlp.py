"""The network's maths against references: finite-difference gradients, the plain yardstick, stability."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnmodel.model import dense as network
from nnmodel.model.mlp import MLP


def small_problem(seed=0, m=12, sizes=(6, 5, 4, 3)):
    rng = np.random.default_rng(seed)
    X = rng.random((m, sizes[0]))
    y = rng.integers(0, sizes[-1], m)
    Y = np.eye(sizes[-1])[y]
    params = network.init_params(sizes, seed=seed, dtype=np.float64)
    params = [(W, rng.normal(0, 0.3, size=b.shape)) for W, b in params]  # non-zero biases too
    return X, Y, params, sizes


@pytest.mark.parametrize("hidden", network.ACTIVATIONS)
@pytest.mark.parametrize("output", network.OUTPUTS)
def test_gradient_matches_finite_differences(hidden, output):
    X, Y, params, sizes = small_problem()
    if hidden == "relu":  # keep pre-activations away from the kink at 0
        params = [(W, b + 0.05 * np.sign(b)) for W, b in params]
    lam = 0.7
    _, grads = network.cost_and_grad(params, X, Y, lam, hidden, output)
    flat = network.pack(params)
    analytic = network.pack(grads)

    def cost(v):
        return network.cost_and_grad(network.unpack(v, sizes, np.float64), X, Y, lam, hidden, output)[0]

    eps = 1e-6
    numeric = np.array([(cost(flat + eps * e) - cost(flat - eps * e)) / (2 * eps) for e in np.eye(len(flat))])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_cost_matches_plain_formula():
    """Sigmoid output cost equals the original's log(h) form where that form is finite."""
    X, Y, params, _sizes = small_problem(sizes=(6, 5, 3))
    lam = 0.3
    cost, _ = network.cost_and_grad(params, X, Y, lam, "sigmoid", "sigmoid")
    (W1, b1), (W2, b2) = params
    a2 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    h = 1 / (1 + np.exp(-(a2 @ W2.T + b2)))
    m = len(X)
    plain = -np.sum(Y * np.log(h) + (1 - Y) * np.log(1 - h)) / m + lam / (2 * m) * (np.sum(W1**2) + np.sum(W2**2))
    assert cost == pytest.approx(plain, rel=1e-12)


def test_gradient_matches_plain_yardstick():
    """Our float64 gradient equals the plain reference implementation's (Theta layout)."""
    from bench.plain_reference import neural_network

    rng = np.random.default_rng(3)
    X = rng.random((20, 784))
    y = rng.integers(0, 10, 20)
    params = network.init_params((784, 7, 10), seed=1, dtype=np.float64)
    params = [(W, rng.normal(0, 0.1, size=b.shape)) for W, b in params]
    (W1, b1), (W2, b2) = params
    theta = np.concatenate([np.column_stack([b1, W1]).ravel(), np.column_stack([b2, W2]).ravel()])
    J_ref, g_ref = neural_network(theta.copy(), 784, 7, 10, X, y, 0.1)
    J, grads = network.cost_and_grad(params, X, np.eye(10)[y], 0.1, "sigmoid", "sigmoid")
    (dW1, db1), (dW2, db2) = grads
    ours = np.concatenate([np.column_stack([db1, dW1]).ravel(), np.column_stack([db2, dW2]).ravel()])
    assert pytest.approx(J_ref, rel=1e-10) == J
    np.testing.assert_allclose(ours, g_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("output", network.OUTPUTS)
@pytest.mark.parametrize("hidden", network.ACTIVATIONS)
def test_no_overflow_warnings_on_extreme_inputs(hidden, output):
    rng = np.random.default_rng(0)
    params = [(W * 1e4, b) for W, b in network.init_params((784, 16, 10), dtype=np.float32)]
    X = np.vstack([np.zeros(784), np.ones(784), rng.random((30, 784))]).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(X))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost, grads = network.cost_and_grad(params, X, Y, 0.1, hidden, output)
        net = MLP(hidden_sizes=(16,), activation=hidden, output=output)
        net.params_ = params
        proba = net.predict_proba(X)
    assert np.isfinite(cost) and all(np.all(np.isfinite(g)) for pair in grads for g in pair)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_float32_path_agrees_with_float64():
    X, Y, params, _ = small_problem(sizes=(6, 5, 3))
    c64, g64 = network.cost_and_grad(params, X, Y, 0.1)
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    c32, g32 = network.cost_and_grad(p32, X.astype(np.float32), Y.astype(np.float32), 0.1)
    assert g32[0][0].dtype == np.float32
    assert c32 == pytest.approx(c64, rel=1e-5)
    np.testing.assert_allclose(network.pack(g32), network.pack(g64), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sparse_row_blocks_give_the_dense_cost_and_gradients(threads, mnist_raw):
    from nnmodel.model.dense import cost_and_grad, init_params
    from nnmodel.model.sparse_input import SparseRows, worth_it

    X = mnist_raw.train_images[:1001].reshape(-1, 784).astype(np.float32) / 255
    assert worth_it(X) and not worth_it(np.ones_like(X))
    Y = np.eye(10, dtype=np.float32)[mnist_raw.train_labels[:1001]]
    params = init_params((784, 30, 10), seed=1, dtype=np.float32, scale=0.1)
    sparse = SparseRows(X, threads=threads)
    try:
        for output in ("softmax", "sigmoid"):
            cost, grads = cost_and_grad(params, X, Y, 0.1, "sigmoid", output)
            cost_s, grads_s = cost_and_grad(params, sparse, Y, 0.1, "sigmoid", output)
            assert cost_s == pytest.approx(cost, rel=1e-5)
            for (dW, db), (dW_s, db_s) in zip(grads, grads_s):
                np.testing.assert_allclose(dW_s, dW, rtol=1e-4, atol=1e-6)
                np.testing.assert_allclose(db_s, db, rtol=1e-4, atol=1e-6)
    finally:
        sparse.close()
