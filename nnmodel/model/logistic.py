"""The logistic family: multinomial logistic regression on the 784 pixels (softmax of X W^T + b),
fitted by L-BFGS-B. The smallest model: a baseline, and the proof that a family needs nothing outside
this package. It has scores and an input gradient (W's row of the digit), but no units to picture.
Fitted state: `W_` (n_classes, n_inputs) and `b_` (n_classes,), saved as the arrays W and b.
"""
from __future__ import annotations

import numpy as np

from nnmodel.model.base import MAX_UNITS, Model, check_lbfgs, check_number, check_whole, checker
from nnmodel.model.dense import cost_and_grad, one_hot, output_proba, pack, unpack
from nnmodel.model.sparse_input import SparseRows, faster_as_sparse


class Logistic(Model):
    """Multinomial logistic regression: fit, predict, predict_proba, score (scikit-learn conventions).

    lam         L2 weight penalty (lambda)     max_iter  L-BFGS-B iterations
    memory      L-BFGS-B stored corrections    tol       L-BFGS-B relative cost tolerance
    patience    stop after this many validation checks without improvement (None: never)
    eval_every  iterations between validation checks
    The weights start at zero (the cost is convex: one minimum, whatever the start).
    """

    family = "logistic"

    def __init__(self, lam=1.0, max_iter=100, memory=20, tol=1e-10, patience=None, eval_every=10, n_inputs=784,
                 n_classes=10):
        self.lam = lam
        self.max_iter = max_iter
        self.memory = memory
        self.tol = tol
        self.patience = patience
        self.eval_every = eval_every
        self.n_inputs = n_inputs
        self.n_classes = n_classes

    @classmethod
    def _check(cls, params: dict) -> None:
        check_number(params, "lam", 0)
        check_lbfgs(params)
        check_whole(params, "n_inputs", 1, MAX_UNITS)
        check_whole(params, "n_classes", 2, 1000)

    def describe(self) -> str:
        return f"logistic regression {self.n_inputs}-{self.n_classes} (softmax)"

    @property
    def sizes(self) -> tuple[int, int]:
        return int(self.n_inputs), int(self.n_classes)

    def fit(self, X, y, validation=None, progress=None) -> Logistic:
        """Train on X (m, n_inputs) in [0, 1] and y (m,); returns self (see `nnmodel.model.lbfgs.minimise`
        for `validation` and `progress`)."""
        self.check_params(self.get_params())
        X = np.ascontiguousarray(np.asarray(X, dtype=np.float32).reshape(-1, self.n_inputs))
        Y = one_hot(np.asarray(y), self.n_classes, np.float32)
        inputs = SparseRows(X) if faster_as_sparse(X, self.n_classes) else X

        def objective(flat):
            cost, grads = cost_and_grad(unpack(flat, self.sizes), inputs, Y, self.lam)
            return cost, pack(grads)

        try:
            self._minimise([(objective, self.max_iter)], np.zeros(self.n_classes * (self.n_inputs + 1)),
                           self._set_flat, len(X), checker(self, validation), progress)
        finally:
            if isinstance(inputs, SparseRows):
                inputs.close()
        return self

    def _set_flat(self, flat: np.ndarray) -> None:
        (W, b), = unpack(flat, self.sizes)
        self.W_, self.b_ = W.copy(), b.copy()

    def decision_function(self, X) -> np.ndarray:
        """Each class's score (m, n_classes): X W^T + b."""
        return np.asarray(X, dtype=np.float32).reshape(-1, self.n_inputs) @ self.W_.T + self.b_

    def predict_proba(self, X) -> np.ndarray:
        return output_proba(self.decision_function(X), "softmax").astype(np.float32)

    def input_gradient(self, x: np.ndarray, digit: int) -> np.ndarray:
        return np.asarray(self.W_[digit], dtype=np.float64)

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_classes, self.n_inputs), "b": (self.n_classes,)}

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"W": self.W_, "b": self.b_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.W_, self.b_ = arrays["W"].astype(np.float32), arrays["b"].astype(np.float32)
