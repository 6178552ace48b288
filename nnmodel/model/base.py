"""What every model offers, whatever its family: the one seam the rest of the house uses.

Pixels are the MNIST form: X (n, 784) float in [0, 1], digit light on dark; labels y (n,) digits.
A family subclasses `Model` and provides

  fit(X, y, validation=None, progress=None) -> self   its weights fitted by SciPy's L-BFGS-B
  fit_shards(shards, validation=None, progress=None)  the same on training shards (nnmodel.model.shards),
                                                      which a family may sum over on a Dask cluster
  predict_proba(X) -> (n, n_classes) float32           rows sum to 1 (predict and score come from it)
  expected_arrays() -> {name: shape}                   what a fitted model of these hyperparameters holds
  to_arrays() -> {name: array}; _set_arrays(arrays)    its fitted state as named arrays (model files)
  describe() -> str                                    one line for people: "MLP 784-100-10, sigmoid units"
  training_record() -> dict                            what the fit did: iterations, seconds, history ...
  _check(params)                                       ValueError naming a bad hyperparameter

and, where it has them, the optional parts that explanations, reports and the viewer show (None
where a family has no such part; they then say so):

  decision_function(X) -> (n, n_classes)    each digit's score (logit), as scikit-learn names it
  input_gradient(x, digit) -> (784,)        d(digit's score)/d(pixels) for one image x (784,)
  units() -> Units                          the units a person can look at, with what each looks for
  unit_contributions(x, digit) -> (k,)      each unit's part in the digit's score, for one image
  unit_importance(X=None) -> (k,)           how much each unit matters (for ordering pictures)
  feature_maps(x) -> (c, h, w)              the image as the model's first stage sees it
  thetas() -> (Theta1, Theta2)              the original project's layout, for the families that fit it
  not_a_digit_proba(X) -> (n,)              how likely each image is no digit at all (a class learned
                                            from generated negatives); proba_and_not_a_digit(X) gives
                                            both in one pass (nnmodel.reject decides from it)

A digit's "score" is its logit, the output before softmax: the answer is the digit with the highest.
Estimators follow scikit-learn: every hyperparameter is an `__init__` argument stored as given,
`get_params`/`set_params` make `sklearn.base.clone` work, `fit` returns self, fitted attributes end in _.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from nnmodel.model import lbfgs

MAX_UNITS = 100_000       # per layer: a larger model is a typo or a tampered file, not a digit recogniser


@dataclass
class Units:
    """A layer of units a person can look at: `name` of one ("hidden unit", "filter"), and `pictures`
    (k, h, w), what each looks for (its input weights as an image; positive: ink there turns it on)."""

    name: str
    pictures: np.ndarray


class Model:
    """The base of every model family (see the module docstring for what a family provides)."""

    family: ClassVar[str] = ""

    # ------------------------------------------------------------------ scikit-learn surface

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    @classmethod
    def defaults(cls) -> dict:
        """The hyperparameters of a model made with no arguments."""
        return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}

    def get_params(self, deep: bool = True) -> dict:
        """The `__init__` arguments as stored (no nested estimators, so `deep` changes nothing)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Model:
        """Set hyperparameters by name; ValueError for a name `__init__` does not take. Returns self."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {', '.join(sorted(valid))}")
            setattr(self, name, value)
        return self

    @classmethod
    def check_params(cls, params: dict) -> dict:
        """ValueError naming the first hyperparameter that is missing, unknown, of the wrong type or out
        of range; returns `params`. Used before fitting and on every model file before its arrays are read."""
        missing = [name for name in cls._param_names() if name not in params]
        if missing:
            raise ValueError(f"missing parameter {missing[0]}")
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise ValueError(f"the {cls.family} family has no parameter {unknown[0]!r}")
        cls._check(params)
        return params

    @classmethod
    def _check(cls, params: dict) -> None:
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Predicted digits (n,)."""
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y) -> float:
        """Accuracy in [0, 1]."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def __repr__(self) -> str:
        defaults = self.defaults()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------ fitting with L-BFGS-B

    def fit_shards(self, shards, validation=None, progress=None) -> Model:
        """fit on the examples of `shards` (nnmodel.model.shards). The families whose objective is a sum
        over the shards (on a Dask cluster too) override this; the others are given the examples in one
        piece, which only shards held in this process can give."""
        from nnmodel.errors import DigitsError
        from nnmodel.model.shards import as_unit

        if not hasattr(shards, "states"):
            raise DigitsError(f"the {self.family} family trains in one process only, not on {shards.where}")
        X = np.concatenate([as_unit(state["pixels"]).reshape(-1, 784) for state in shards.states])
        return self.fit(X, np.concatenate([state["y"] for state in shards.states]), validation, progress)

    def _minimise(self, stages, x0: np.ndarray, set_flat, n_examples: int, check=None, progress=None) -> None:
        """Minimise with this model's L-BFGS-B settings (memory, tol, patience, eval_every): `stages`
        [(objective, iterations[, share]), ...] in turn, each objective(flat) -> (loss, gradient)
        starting where the last stage ended (one stage: a plain full-batch fit; earlier stages on a
        `share` of the examples make cheap first iterations; the share weighs the time left). `set_flat(flat)`
        puts a flat vector into the model, for each validation check (`check()`: the model's
        validation accuracy as it stands) and for the result. Sets the fit attributes that
        `training_record` reports."""
        score = None
        if check is not None:
            def score(flat):
                set_flat(flat)
                return check()
        stages = [(stage[0], stage[1], stage[2] if len(stage) > 2 else 1.0) for stage in stages]
        total, done, history, seconds, flat = sum(n for _, n, _ in stages), 0, [], 0.0, x0
        work_before = [sum(n * w for _, n, w in stages[:i]) for i in range(len(stages))]
        all_work = sum(n * w for _, n, w in stages)

        def whole_fit(info: dict, stage: int) -> dict:  # seconds and time left over the whole fit
            elapsed, share = seconds + info["seconds"], stages[stage][2]
            work = work_before[stage] + (info["iteration"] - done_before[stage]) * share
            return {**info, "seconds": elapsed, "eta_seconds": elapsed / max(work, 1e-9) * (all_work - work)}

        done_before = []
        for stage, (objective, iterations, _) in enumerate(stages):
            done_before.append(done)
            result = lbfgs.minimise(objective, flat, max_iter=iterations, memory=self.memory, tol=self.tol,
                                    score=score, eval_every=self.eval_every, patience=self.patience,
                                    progress=(lambda info, s=stage: progress(whole_fit(info, s))) if progress else None,
                                    counted_from=done, of=total)
            history += [whole_fit(entry, stage) for entry in result.history]
            flat, done, seconds = result.flat, done + result.n_iter, seconds + result.seconds
        set_flat(flat)
        self.n_iter_, self.history_, self.stop_reason_ = done, history, result.stop_reason
        self.train_seconds_, self.n_examples_, self.kept_iteration_ = seconds, n_examples, result.kept_iteration

    def training_record(self) -> dict:
        """What the fit did: iterations, seconds, why it stopped, examples, the iteration kept, history."""
        return {"iterations": self.n_iter_, "seconds": round(self.train_seconds_, 2), "stop_reason": self.stop_reason_,
                "examples": int(self.n_examples_), "kept_iteration": self.kept_iteration_, "history": self.history_}

    # ------------------------------------------------------------------ named arrays

    def with_arrays(self, arrays: dict[str, np.ndarray]) -> Model:
        """Set the fitted state from named arrays (a model file's); ValueError when a name, shape or
        value does not fit this model's hyperparameters. Returns self."""
        expected = self.expected_arrays()
        if set(arrays) != set(expected):
            extra, lacking = sorted(set(arrays) - set(expected)), sorted(set(expected) - set(arrays))
            raise ValueError(f"arrays {extra or lacking} {'unexpected' if extra else 'missing'} for {self.describe()}")
        for name, shape in expected.items():
            array = arrays[name]
            if array.shape != tuple(shape):
                raise ValueError(f"array {name} is {array.shape}, expected {tuple(shape)} for {self.describe()}")
            if array.dtype.kind != "f":
                raise ValueError(f"array {name} is {array.dtype}, not floating point")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"array {name} holds non-finite values")
        self._set_arrays(arrays)
        return self

    # ------------------------------------------------------------------ optional parts (None: not in this family)

    def decision_function(self, X) -> np.ndarray | None:
        return None

    def input_gradient(self, x: np.ndarray, digit: int) -> np.ndarray | None:
        return None

    def units(self) -> Units | None:
        return None

    def unit_contributions(self, x: np.ndarray, digit: int) -> np.ndarray | None:
        return None

    def unit_importance(self, X: np.ndarray | None = None) -> np.ndarray | None:
        return None

    def feature_maps(self, x: np.ndarray) -> np.ndarray | None:
        return None

    def thetas(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def not_a_digit_proba(self, X) -> np.ndarray | None:
        return None

    def proba_and_not_a_digit(self, X) -> tuple[np.ndarray, np.ndarray | None]:
        """predict_proba and not_a_digit_proba in one pass (a family with that class overrides it)."""
        return self.predict_proba(X), self.not_a_digit_proba(X)


def checker(model: Model, validation):
    """The validation check of `Model._minimise` for validation (X, y) scored by model.score (None: none)."""
    if validation is None:
        return None
    X, y = validation
    return lambda: model.score(X, y)


# ------------------------------------------------------------------ hyperparameter checks families share

def check_whole(params: dict, name: str, low: int, high: int | None = None, none_ok: bool = False) -> None:
    value = params.get(name)
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or \
            (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a whole number {bound}, not {value!r}")


def check_number(params: dict, name: str, low: float, strict: bool = False) -> None:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, not {value!r}")


def check_choice(params: dict, name: str, allowed) -> None:
    if params.get(name) not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {params.get(name)!r}")


def check_lbfgs(params: dict) -> None:
    """The L-BFGS-B settings every family fitted by `Model._minimise` has."""
    check_whole(params, "max_iter", 1)
    check_whole(params, "memory", 1, 1000)
    check_number(params, "tol", 0)
    check_whole(params, "patience", 1, none_ok=True)
    check_whole(params, "eval_every", 1)


def check_sizes(params: dict, name: str, allow_empty: bool = False) -> None:
    sizes = params.get(name)
    if not isinstance(sizes, (list, tuple)) or (not sizes and not allow_empty) or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= MAX_UNITS for s in sizes):
        raise ValueError(f"{name} must be a list of whole numbers 1..{MAX_UNITS}, not {sizes!r}")

