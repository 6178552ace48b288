"""The maths of fully connected layers in NumPy: parameters, forward pass, cost and gradient (the MLP
family, and any family whose last stage is a dense network).

Shapes: inputs X are (m, n_inputs) float in [0, 1]; labels y are (m,) ints 0..n_classes-1. Layer l has
weights W (n_out, n_in) and biases b (n_out,), so the original project's Theta = [b | W].
Cost per example, averaged over m, plus lam / (2 m) * sum of squared non-bias weights:
  output "softmax": cross-entropy of the softmax;  output "sigmoid": per-class logistic cost (the
  original project's). Both are computed from pre-activations (logsumexp, softplus) so no log(0).
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit

from nnmodel.model.sparse_input import SparseRows

ACTIVATIONS = ("sigmoid", "tanh", "relu")
OUTPUTS = ("softmax", "sigmoid")


def activate(z: np.ndarray, kind: str) -> np.ndarray:
    """Hidden activation, computed in place on z (which it returns)."""
    if kind == "sigmoid":
        return expit(z, out=z)
    if kind == "tanh":
        return np.tanh(z, out=z)
    if kind == "relu":
        return np.maximum(z, 0, out=z)
    raise ValueError(f"unknown activation {kind!r}; choose from {ACTIVATIONS}")


def activation_slope(a: np.ndarray, kind: str) -> np.ndarray:
    """d activation / dz expressed through the activation a (new array)."""
    if kind == "sigmoid":
        return a * (1 - a)
    if kind == "tanh":
        return 1 - a * a
    return (a > 0).astype(a.dtype)


def init_params(sizes, seed: int = 0, dtype=np.float32, scale: float = 0.05):
    """Seeded initialisation: weights uniform in [-scale, scale], biases zero."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-scale, scale, size=(n_out, n_in)).astype(dtype), np.zeros(n_out, dtype=dtype))
            for n_in, n_out in itertools.pairwise(sizes)]


def one_hot(y: np.ndarray, n_classes: int, dtype) -> np.ndarray:
    """Targets (m, n_classes) with a 1 in each row's class column."""
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), np.asarray(y, dtype=np.intp)] = 1
    return Y


def pack(params) -> np.ndarray:
    """Flatten [(W, b), ...] into one float64 vector (the layout L-BFGS-B works on)."""
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in params]).astype(np.float64)


def unpack(flat: np.ndarray, sizes, dtype=np.float32):
    """Inverse of `pack`: views of a float array cast once to `dtype`."""
    flat = np.asarray(flat, dtype=dtype)
    params, offset = [], 0
    for n_in, n_out in itertools.pairwise(sizes):
        W = flat[offset: offset + n_in * n_out].reshape(n_out, n_in)
        offset += n_in * n_out
        params.append((W, flat[offset: offset + n_out]))
        offset += n_out
    return params


def forward(params, X: np.ndarray, activation: str = "sigmoid"):
    """Activations of every layer: [X, a_1, ..., a_{L-1}, z_L] (the output layer left as logits).
    X: (m, n_inputs) array, or SparseRows for training on mostly-zero inputs."""
    acts = [X]
    for i, (W, b) in enumerate(params):
        last = i == len(params) - 1
        if isinstance(acts[-1], SparseRows):  # bias and activation fused into the parallel blocks
            acts.append(acts[-1].dot(W.T, add=b, then=None if last else lambda rows: activate(rows, activation)))
            continue
        z = acts[-1] @ W.T
        z += b
        acts.append(z if last else activate(z, activation))
    return acts


def output_proba(z: np.ndarray, output: str) -> np.ndarray:
    """Class scores from logits z (m, k): softmax rows, or independent sigmoids (original style)."""
    if output == "sigmoid":
        return expit(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cost_and_grad(params, X: np.ndarray, Y: np.ndarray, lam: float, activation: str = "sigmoid",
                  output: str = "softmax"):
    """Cost (float) and gradients [(dW, db), ...] for one-hot targets Y (m, k) of X's dtype."""
    m = X.shape[0]
    data_cost, grads = data_sums(params, X, Y, activation, output, 1.0 / m)
    reg_cost = 0.5 * lam / m * sum(float(np.vdot(W, W)) for W, _ in params)
    for (dW, _), (W, _) in zip(grads, params):
        dW += (lam / m) * W
    return data_cost + reg_cost, grads


def data_sums(params, X: np.ndarray, Y: np.ndarray, activation: str = "sigmoid", output: str = "softmax",
              weight: float = 1.0):
    """The data part of the cost and its gradients [(dW, db), ...], each example's term times `weight`
    (1 / m for a mean; 1 / M when X is one shard of M examples, whose sums are then added): no penalty."""
    acts = forward(params, X, activation)
    z = acts[-1]
    if output == "softmax":
        shift = z.max(axis=1, keepdims=True)
        e = np.exp(z - shift)
        total = e.sum(axis=1, keepdims=True)
        # -log softmax(z)[y] = logsumexp(z) - z[y]
        data_cost = float(np.sum(np.log(total) + shift) - np.sum(z * Y)) * weight
        delta = e / total
    elif output == "sigmoid":
        # -y log s(z) - (1 - y) log(1 - s(z)) = softplus(z) - y z
        data_cost = float(np.sum(np.logaddexp(0, z)) - np.sum(z * Y)) * weight
        delta = expit(z)
    else:
        raise ValueError(f"unknown output {output!r}; choose from {OUTPUTS}")
    delta -= Y
    delta *= weight
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        dW = acts[i].tdot(delta).T if isinstance(acts[i], SparseRows) else delta.T @ acts[i]
        grads[i] = (dW, delta.sum(axis=0))
        if i:
            delta = (delta @ W) * activation_slope(acts[i], activation)
    return data_cost, grads

