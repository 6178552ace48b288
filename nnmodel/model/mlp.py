"""`Network`: a multi-layer perceptron with the scikit-learn estimator surface.

Every hyperparameter is an `__init__` argument, stored as given; `get_params`/`set_params` make
`sklearn.base.clone` work. `fit(X, y)` trains with L-BFGS-B (`nnmodel.model.lbfgs`) on X plus its distorted
copies (`nnmodel.images.distort`) and returns self; it sets `params_` [(W (n_out, n_in), b (n_out,)), ...],
`n_iter_`, `history_`, `stop_reason_`, `train_seconds_`, `n_examples_`, `classes_`.
X is (m, 784) in [0, 1] (digit light on dark); y is (m,) digits.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from nnmodel.images import distort
from nnmodel.model import lbfgs
from nnmodel.model.dense import ACTIVATIONS, OUTPUTS, forward, init_params, output_proba, pack, unpack

DTYPES = ("float32", "float64")
MAX_UNITS = 100_000       # per layer: a larger model is a typo or a tampered file, not a digit recogniser


class Network:
    """Multi-layer perceptron: fit, predict, predict_proba, score (scikit-learn conventions). The
    defaults are the `default` preset's.

    hidden_sizes  units per hidden layer          activation  hidden activation: sigmoid, tanh, relu
    output        softmax, or sigmoid (the original project's per-class logistic output)
    lam           L2 weight penalty (lambda)       max_iter    L-BFGS-B iterations
    memory        L-BFGS-B stored corrections      tol         L-BFGS-B relative cost tolerance
    copies        distorted copies of each training image added to the fit
    distortions   which distortions make them (see nnmodel.images.distort.KINDS)
    patience      stop after this many validation checks without improvement (None: never)
    eval_every    iterations between validation checks
    init_scale    initial weights uniform in [-init_scale, init_scale]
    dtype         float32 or float64 arithmetic  seed  initialisation and distortion seed
    sparse        input products from sparse row blocks (None: when the inputs are mostly zeros)
    """

    def __init__(self, hidden_sizes=(100,), activation="sigmoid", output="softmax", lam=1.0, max_iter=120,
                 memory=50, tol=1e-10, copies=1, distortions=("style", "affine", "stroke", "blur"), patience=None,
                 eval_every=10, init_scale=0.12, dtype="float32", seed=0, sparse=None, n_inputs=784, n_classes=10):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.output = output
        self.lam = lam
        self.max_iter = max_iter
        self.memory = memory
        self.tol = tol
        self.copies = copies
        self.distortions = distortions
        self.patience = patience
        self.eval_every = eval_every
        self.init_scale = init_scale
        self.dtype = dtype
        self.seed = seed
        self.sparse = sparse
        self.n_inputs = n_inputs
        self.n_classes = n_classes

    # ------------------------------------------------------------------ scikit-learn surface

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """The `__init__` arguments as stored (no nested estimators, so `deep` changes nothing)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Network:
        """Set hyperparameters by name; ValueError for a name `__init__` does not take. Returns self."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Network has no parameter {name!r}; valid: {', '.join(sorted(valid))}")
            setattr(self, name, value)
        return self

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer, inputs first: e.g. (784, 100, 10)."""
        return (int(self.n_inputs), *map(int, self.hidden_sizes), int(self.n_classes))

    def fit(self, X, y, validation=None, progress=None) -> Network:
        """Train on X (m, n_inputs) in [0, 1] and y (m,); returns self.

        validation: (X_val, y_val) checked every `eval_every` iterations (for `patience` and the
        history); progress(info) is called after every iteration (see `nnmodel.model.lbfgs.fit_lbfgsb`).
        """
        check_params(self.get_params())
        dtype = np.dtype(self.dtype)
        X = np.asarray(X, dtype=dtype).reshape(-1, self.n_inputs)
        y = np.asarray(y)
        X_fit, y_fit = distort.with_distorted_copies(X, y, self.copies, self.distortions, seed=self.seed)
        score = None
        if validation is not None:
            X_val, y_val = validation

            def score(params):
                self.params_ = params
                return self.score(X_val, y_val)
        sizes = self.sizes
        x0 = pack(init_params(sizes, self.seed, dtype, self.init_scale))
        result = lbfgs.fit_lbfgsb(sizes, X_fit, y_fit, x0, lam=self.lam, activation=self.activation,
                                  output=self.output, max_iter=self.max_iter, memory=self.memory, tol=self.tol,
                                  dtype=dtype, score=score, eval_every=self.eval_every, patience=self.patience,
                                  progress=progress, sparse=self.sparse)
        self.params_ = [(W.copy(), b.copy()) for W, b in unpack(result.flat, sizes, dtype)]
        self.n_iter_, self.history_, self.stop_reason_ = result.n_iter, result.history, result.stop_reason
        self.train_seconds_, self.n_examples_ = result.seconds, len(X_fit)
        self.sparse_inputs_, self.kept_iteration_ = result.sparse_inputs, result.kept_iteration
        self.classes_ = np.arange(self.n_classes)
        return self

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

    def predict(self, X) -> np.ndarray:
        """Predicted digits (m,)."""
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y) -> float:
        """Accuracy in [0, 1]."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"Network({', '.join(changed)})"


def check_params(params: dict) -> dict:
    """ValueError naming the first hyperparameter that is missing, of the wrong type or out of range;
    returns `params`. Used before fitting and on every model file before its arrays are read."""
    def whole(name, low, high=None, none_ok=False):
        value = params.get(name)
        if value is None and none_ok:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or \
                (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise ValueError(f"{name} must be a whole number {bound}, not {value!r}")

    def number(name, low, strict=False):
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
                or value < low or (strict and value == low):
            raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, not {value!r}")

    def choice(name, allowed):
        if params.get(name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {params.get(name)!r}")

    missing = [name for name in Network._param_names() if name not in params]
    if missing:
        raise ValueError(f"missing parameter {missing[0]}")
    sizes = params["hidden_sizes"]
    if not isinstance(sizes, (list, tuple)) or not sizes or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= MAX_UNITS for s in sizes):
        raise ValueError(f"hidden_sizes must be a list of whole numbers 1..{MAX_UNITS}, not {sizes!r}")
    choice("activation", ACTIVATIONS)
    choice("output", OUTPUTS)
    choice("dtype", DTYPES)
    number("lam", 0)
    number("tol", 0)
    number("init_scale", 0, strict=True)
    whole("max_iter", 1)
    whole("memory", 1, 1000)
    whole("copies", 0, 100)
    whole("patience", 1, none_ok=True)
    whole("eval_every", 1)
    whole("seed", 0)
    whole("n_inputs", 1, MAX_UNITS)
    whole("n_classes", 2, 1000)
    if not isinstance(params["distortions"], (list, tuple)):
        raise ValueError(f"distortions must be a list of names, not {params['distortions']!r}")
    distort.check_kinds(params["distortions"])
    if params["sparse"] not in (None, True, False):
        raise ValueError(f"sparse must be true, false or null, not {params['sparse']!r}")
    return params
