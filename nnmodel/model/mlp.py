"""The MLP family: a multi-layer perceptron on the 784 pixels, fitted by L-BFGS-B.

The original project's network is one of these (784-100-10, sigmoid units): its Theta files are
this family's `thetas()`. Fitted state: `params_` [(W (n_out, n_in), b (n_out,)), ...], saved as the
arrays W0, b0, W1, b1, ... The maths lives in `nnmodel.model.dense`.
"""
from __future__ import annotations

import itertools

import numpy as np

from nnmodel.model.base import (
    MAX_UNITS,
    Model,
    Units,
    check_choice,
    check_lbfgs,
    check_number,
    check_sizes,
    check_whole,
    checker,
)
from nnmodel.model.dense import (
    ACTIVATIONS,
    OUTPUTS,
    activate,
    activation_slope,
    forward,
    init_params,
    one_hot,
    output_proba,
    pack,
    unpack,
)
from nnmodel.model.shards import LocalShards, as_unit, dense_objective
from nnmodel.model.sparse_input import SparseRows

DTYPES = ("float32", "float64")
SIDE = 28                 # MNIST images are SIDE x SIDE pixels


class MLP(Model):
    """Multi-layer perceptron: fit, predict, predict_proba, score (scikit-learn conventions). The
    defaults are the `mlp` preset's network.

    hidden_sizes  units per hidden layer          activation  hidden activation: sigmoid, tanh, relu
    output        softmax, or sigmoid (the original project's per-class logistic output)
    lam           L2 weight penalty (lambda)       max_iter    L-BFGS-B iterations
    memory        L-BFGS-B stored corrections      tol         L-BFGS-B relative cost tolerance
    patience      stop after this many validation checks without improvement (None: never)
    eval_every    iterations between validation checks
    init_scale    initial weights uniform in [-init_scale, init_scale]
    dtype         float32 or float64 arithmetic  seed  initialisation seed
    sparse        input products from sparse row blocks (True), or dense BLAS (False; None, kept for old
                  files, is dense too: a choice timed where each fit runs could differ between a
                  worker and this process, and so make two fits of the same data differ)
    X is (m, n_inputs) in [0, 1] (digit light on dark); y is (m,) digits. The model trains on what it is
    given: distorted copies are the data layer's business (`nnmodel.data.distorted`).
    """

    family = "mlp"

    def __init__(self, hidden_sizes=(100,), activation="sigmoid", output="softmax", lam=1.0, max_iter=120,
                 memory=50, tol=1e-10, patience=None, eval_every=10, init_scale=0.12, dtype="float32", seed=0,
                 sparse=None, n_inputs=784, n_classes=10):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.output = output
        self.lam = lam
        self.max_iter = max_iter
        self.memory = memory
        self.tol = tol
        self.patience = patience
        self.eval_every = eval_every
        self.init_scale = init_scale
        self.dtype = dtype
        self.seed = seed
        self.sparse = sparse
        self.n_inputs = n_inputs
        self.n_classes = n_classes

    @classmethod
    def _check(cls, params: dict) -> None:
        check_sizes(params, "hidden_sizes")
        check_choice(params, "activation", ACTIVATIONS)
        check_choice(params, "output", OUTPUTS)
        check_choice(params, "dtype", DTYPES)
        check_number(params, "lam", 0)
        check_number(params, "init_scale", 0, strict=True)
        check_lbfgs(params)
        check_whole(params, "seed", 0)
        check_whole(params, "n_inputs", 1, MAX_UNITS)
        check_whole(params, "n_classes", 2, 1000)
        if params["sparse"] not in (None, True, False):
            raise ValueError(f"sparse must be true, false or null, not {params['sparse']!r}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer, inputs first: e.g. (784, 100, 10)."""
        return (int(self.n_inputs), *map(int, self.hidden_sizes), int(self.n_classes))

    def describe(self) -> str:
        output = "softmax" if self.output == "softmax" else "per-class sigmoid"
        return f"MLP {'-'.join(map(str, self.sizes))}, {self.activation} units, {output} output"

    # ------------------------------------------------------------------ fitting and predicting

    def fit(self, X, y, validation=None, progress=None) -> MLP:
        """Train on X (m, n_inputs) in [0, 1] and y (m,); returns self.

        validation: (X_val, y_val) checked every `eval_every` iterations (for `patience` and the
        history); progress(info) is called after every iteration (see `nnmodel.model.lbfgs.minimise`).
        """
        X = np.asarray(X).reshape(-1, self.n_inputs)
        return self.fit_shards(LocalShards.of_arrays(X, y), validation, progress)

    def fit_shards(self, shards, validation=None, progress=None) -> MLP:
        """Train on the examples of `shards` (nnmodel.model.shards: in this process or on a Dask
        cluster): the cost and gradient of every L-BFGS-B evaluation are the shards' sums; returns self."""
        self.check_params(self.get_params())
        sizes, m = self.sizes, self.prepare_shards(shards)
        objective = dense_objective(shards, "xy", sizes, self.lam, self.activation, self.output, m, self.dtype)

        def set_flat(flat):
            self.params_ = [(W.copy(), b.copy()) for W, b in unpack(flat, sizes, np.dtype(self.dtype))]

        x0 = pack(init_params(sizes, self.seed, np.dtype(self.dtype), self.init_scale))
        self._minimise([(objective, self.max_iter)], x0, set_flat, m, checker(self, validation), progress)
        self.sparse_inputs_ = bool(self.sparse)
        self.classes_ = np.arange(self.n_classes)
        return self

    def prepare_shards(self, shards) -> int:
        """The first part of a fit: check the labels and leave each shard holding its inputs and one-hot
        targets ("xy"); returns the number of examples."""
        counts = shards.map(label_range)
        if any(n and (low < 0 or high >= self.n_classes) for n, low, high in counts):
            raise ValueError(f"labels must be classes 0-{self.n_classes - 1}")
        # sparse None: dense, the same choice wherever the shards live
        shards.update(mlp_inputs, self.n_inputs, self.n_classes, self.dtype, bool(self.sparse))
        return sum(n for n, _, _ in counts)

    def training_record(self) -> dict:
        return {**super().training_record(), "sparse_inputs": self.sparse_inputs_}

    def predict_proba(self, X, batch: int = 8192) -> np.ndarray:
        """Class probabilities (m, n_classes) as float32; rows sum to 1 (sigmoid outputs normalised)."""
        X = np.asarray(X, dtype=self.dtype).reshape(-1, self.n_inputs)
        out = np.empty((len(X), self.n_classes), dtype=np.float32)
        for start in range(0, len(X), batch):
            p = output_proba(forward(self.params_, X[start: start + batch], self.activation)[-1], self.output)
            if self.output == "sigmoid":
                p /= p.sum(axis=1, keepdims=True)
            out[start: start + batch] = p
        return out

    def decision_function(self, X) -> np.ndarray:
        """Each class's score (m, n_classes): the output layer's logits."""
        X = np.asarray(X, dtype=self.dtype).reshape(-1, self.n_inputs)
        return forward(self.params_, X, self.activation)[-1]

    # ------------------------------------------------------------------ named arrays

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for i, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes)):
            shapes[f"W{i}"], shapes[f"b{i}"] = (n_out, n_in), (n_out,)
        return shapes

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for i, (W, b) in enumerate(self.params_):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        return arrays

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.params_ = [(arrays[f"W{i}"].astype(self.dtype), arrays[f"b{i}"].astype(self.dtype))
                        for i in range(len(self.sizes) - 1)]

    # ------------------------------------------------------------------ looking inside

    def score_gradients(self, x: np.ndarray, digit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Activations [x, a1, ..., logits] and the exact gradients of `digit`'s logit with respect to
        each of [x, a1, ..., a_last_hidden] for one image x (n_inputs,) (one backward pass, float64)."""
        x = np.asarray(x, dtype=np.float64)
        acts = [a[0] for a in forward(self.params_, x[None, :], self.activation)]
        gradient = np.asarray(self.params_[-1][0][digit], dtype=np.float64)
        gradients = [gradient]
        for layer in range(len(self.params_) - 1, 0, -1):
            gradient = (gradient * activation_slope(acts[layer], self.activation)) @ self.params_[layer - 1][0]
            gradients.insert(0, gradient)
        return acts, gradients

    def input_gradient(self, x: np.ndarray, digit: int) -> np.ndarray:
        return self.score_gradients(x, digit)[1][0]

    def units(self) -> Units | None:
        """The first hidden layer's units; each picture is its input weights (needs 784 = 28x28 inputs)."""
        W1 = np.asarray(self.params_[0][0], dtype=np.float64)
        if W1.shape[1] != SIDE * SIDE:
            return None
        return Units("hidden unit", W1.reshape(-1, SIDE, SIDE))

    def unit_contributions(self, x: np.ndarray, digit: int) -> np.ndarray:
        """Each first-layer unit's part in `digit`'s score (H,). One hidden layer: activation x outgoing
        weight, exact (they sum, with the output bias, to the score); deeper networks: gradient x
        activation of the first hidden layer (a first-order estimate)."""
        acts, gradients = self.score_gradients(x, digit)
        return gradients[1] * acts[1]

    def unit_importance(self, X: np.ndarray | None = None) -> np.ndarray:
        """How much each first-layer unit matters to what follows: (H,) >= 0, for ordering pictures.

        The norm of the unit's outgoing weights; with a sample X (m, n_inputs) in [0, 1], times the
        spread (standard deviation) of its activation over X, because a unit that is always equally on
        only shifts every score by the same amount, like a bias, and so tells the digits apart no better.
        """
        importance = np.linalg.norm(np.asarray(self.params_[1][0], dtype=np.float64), axis=0)
        if X is not None:
            W1, b1 = self.params_[0]
            X = np.asarray(X, dtype=np.float64).reshape(-1, W1.shape[1])
            importance *= activate(X @ W1.T + b1, self.activation).std(axis=0)
        return importance

    def thetas(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(Theta1, Theta2), bias column first, of a network with one sigmoid hidden layer (the original
        project's layout); None for any other shape. For a softmax output the original `predict` gives
        the same answers (sigmoid and softmax rank logits alike)."""
        if len(self.params_) != 2 or self.activation != "sigmoid":
            return None
        (W1, b1), (W2, b2) = self.params_
        return np.column_stack([b1, W1]).astype(np.float64), np.column_stack([b2, W2]).astype(np.float64)


# ------------------------------------------------------------------ the shards' work (run where they live)

def label_range(state: dict) -> tuple[int, int, int]:
    """A shard's examples, lowest and highest label."""
    y = state["y"]
    return len(y), int(y.min(initial=0)), int(y.max(initial=0))


def mlp_inputs(state: dict, n_inputs: int, n_classes: int, dtype: str, sparse: bool) -> dict:
    """The shard's inputs (m, n_inputs) in `dtype` (sparse row blocks with `sparse`) and one-hot targets."""
    X = np.ascontiguousarray(as_unit(state["pixels"], dtype).reshape(-1, n_inputs))
    inputs = SparseRows(X, threads=1) if sparse and len(X) else X
    return {"index": state["index"], "xy": (inputs, one_hot(state["y"], n_classes, np.dtype(dtype)))}
