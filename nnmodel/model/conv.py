"""The conv family: convolutional features with PCA filters (learned without gradients,
`nnmodel.model.conv_features`), standardised, then a dense head (ReLU hidden layers and a softmax,
`nnmodel.model.dense`) whose every weight is fitted by SciPy's L-BFGS-B.

Fitted state, saved as named arrays: `filters` (k, size, size), the standardiser's `feature_mean` and
`feature_scale` (n_features,), and the head's W0, b0, W1, b1, ... Looking inside: the units are the
2k feature channels (a filter, or the filter negated: what each answers to), the feature maps are an
image's 2k pooled maps, and the pixel map comes from the exact input gradient.
"""
from __future__ import annotations

import itertools

import numpy as np

from nnmodel.images.distort import shift_images
from nnmodel.model import conv_features as cf
from nnmodel.model.base import (
    MAX_UNITS,
    Model,
    Units,
    check_lbfgs,
    check_number,
    check_sizes,
    check_whole,
)
from nnmodel.model.dense import activation_slope, cost_and_grad, forward, one_hot, output_proba, pack, unpack

SHIFTS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]  # test_shifts takes the first N
PREDICT_CHUNK = 8192     # images per chunk when predicting (bounds the features' memory)


class ConvFeatures(Model):
    """PCA-filter convolutional features and an L-BFGS-B head: fit, predict_proba, scikit-learn surface.

    filters       PCA filters learned from image patches      filter_size  their side in pixels
    patches       random patches the filters are learned from  pool         max-pooling window (and stride)
    hidden_sizes  the head's ReLU hidden layers ([] for a softmax on the features)
    lam           L2 weight penalty of the head (lambda)       max_iter     L-BFGS-B iterations on all examples
    warmup        [[share, iterations], ...] L-BFGS-B stages on a random share of the examples first
    memory, tol, patience, eval_every   L-BFGS-B settings, as every family's
    test_shifts   also read each image shifted one pixel this many ways (0-8) and average the answers
    seed          filters' patches, the head's initial weights and the warm-up subsets
    """

    family = "conv"

    def __init__(self, filters=8, filter_size=5, patches=100_000, pool=3, hidden_sizes=(100,), lam=1.0, max_iter=160,
                 warmup=(), memory=20, tol=1e-12, patience=None, eval_every=20, test_shifts=0, seed=0):
        self.filters = filters
        self.filter_size = filter_size
        self.patches = patches
        self.pool = pool
        self.hidden_sizes = hidden_sizes
        self.lam = lam
        self.max_iter = max_iter
        self.warmup = warmup
        self.memory = memory
        self.tol = tol
        self.patience = patience
        self.eval_every = eval_every
        self.test_shifts = test_shifts
        self.seed = seed

    @classmethod
    def _check(cls, params: dict) -> None:
        check_whole(params, "filters", 1, 256)
        check_whole(params, "filter_size", 2, 13)
        check_whole(params, "patches", 100, 10_000_000)
        check_whole(params, "pool", 1, 8)
        check_sizes(params, "hidden_sizes", allow_empty=True)
        check_number(params, "lam", 0)
        check_lbfgs(params)
        check_whole(params, "test_shifts", 0, len(SHIFTS))
        check_whole(params, "seed", 0)
        warmup = params["warmup"]
        if not isinstance(warmup, (list, tuple)) or any(
                not isinstance(stage, (list, tuple)) or len(stage) != 2 or isinstance(stage[1], bool)
                or not isinstance(stage[0], (int, float)) or not 0 < stage[0] < 1
                or not isinstance(stage[1], int) or not 1 <= stage[1] <= MAX_UNITS for stage in warmup):
            raise ValueError(f"warmup must be a list of [share in (0, 1), iterations >= 1] stages, not {warmup!r}")

    # ------------------------------------------------------------------ shapes

    @property
    def n_features(self) -> int:
        return cf.n_features(self.filters, self.filter_size, self.pool)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer of the head, features first: e.g. (1024, 100, 10)."""
        return (self.n_features, *map(int, self.hidden_sizes), 10)

    def describe(self) -> str:
        side = cf.map_side(self.filter_size, self.pool)
        shifts = f", reads {self.test_shifts} shifted copies too" if self.test_shifts else ""
        return (f"conv features: {self.filters} PCA filters {self.filter_size}x{self.filter_size}, pool "
                f"{self.pool} ({2 * self.filters} maps {side}x{side}), head {'-'.join(map(str, self.sizes))}"
                f"{shifts}")

    # ------------------------------------------------------------------ fitting and predicting

    def fit(self, X, y, validation=None, progress=None) -> ConvFeatures:
        """Learn the filters, compute and standardise the features of X (m, 784) in [0, 1], and fit the
        head to y (m,) with L-BFGS-B (the warm-up stages first); returns self. `validation` (X_val,
        y_val) is checked every `eval_every` iterations; progress(info) after every iteration."""
        self.check_params(self.get_params())
        images = np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE)
        y = np.asarray(y, dtype=np.intp)
        self.filters_ = cf.learn_filters(images, self.filters, self.filter_size, self.patches, self.seed)
        F = cf.features(images, self.filters_, self.pool)
        self.standardiser_ = cf.Standardiser.fit(F)
        self.standardiser_.apply(F)
        Y = one_hot(y, 10, np.float32)
        sizes = self.sizes

        def objective_on(rows):
            inputs, targets = (F, Y) if rows is None else (F[rows], Y[rows])

            def objective(flat):
                cost, grads = cost_and_grad(unpack(flat, sizes), inputs, targets, self.lam, "relu")
                return cost, pack(grads)
            return objective

        rng = np.random.default_rng([self.seed, 11])
        stages = [(objective_on(np.sort(rng.choice(len(F), max(1, int(share * len(F))), replace=False))), int(n))
                  for share, n in self.warmup]
        stages.append((objective_on(None), self.max_iter))
        check = None
        if validation is not None:  # checks read the validation images' features, computed once
            F_val, y_val = self._standardised_features(validation[0]), np.asarray(validation[1])

            def check():
                return float(np.mean(self._head_proba(F_val).argmax(axis=1) == y_val))

        def set_flat(flat):
            self.head_ = [(W.copy(), b.copy()) for W, b in unpack(flat, sizes)]

        self._minimise(stages, self._initial_head(), set_flat, len(F), check, progress)
        return self

    def _initial_head(self) -> np.ndarray:
        """He-scaled normal weights for the ReLU layers (the features are standardised), zero biases."""
        rng = np.random.default_rng([self.seed, 13])
        params = [(rng.normal(0, np.sqrt((2 if i < len(self.sizes) - 2 else 1) / n_in), (n_out, n_in)),
                   np.zeros(n_out)) for i, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes))]
        return pack(params)

    def _standardised_features(self, X) -> np.ndarray:
        return self.standardiser_.apply(cf.features(np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE), self.filters_,
                                                    self.pool))

    def _head_logits(self, F: np.ndarray) -> np.ndarray:
        return forward(self.head_, F, "relu")[-1]

    def _head_proba(self, F: np.ndarray) -> np.ndarray:
        return output_proba(self._head_logits(F), "softmax").astype(np.float32)

    def decision_function(self, X) -> np.ndarray:
        """Each digit's score (n, 10): the head's logits (for the image as given, without shifts)."""
        images = np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE)
        return np.concatenate([self._head_logits(self._standardised_features(images[start: start + PREDICT_CHUNK]))
                               for start in range(0, len(images), PREDICT_CHUNK)]) if len(images) else \
            np.zeros((0, 10), np.float32)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, 10) float32 of images (n, 784) in [0, 1]; with test_shifts, the average
        over the image and its shifted copies."""
        images = np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE)
        out = np.empty((len(images), 10), np.float32)
        for start in range(0, len(images), PREDICT_CHUNK):
            block = images[start: start + PREDICT_CHUNK]
            p = self._head_proba(self._standardised_features(block))
            for dy, dx in SHIFTS[: self.test_shifts]:
                p += self._head_proba(self._standardised_features(shift_images(block, dy, dx)))
            out[start: start + len(block)] = p / (1 + self.test_shifts)
        return out

    # ------------------------------------------------------------------ named arrays

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        shapes = {"filters": (self.filters, self.filter_size, self.filter_size),
                  "feature_mean": (self.n_features,), "feature_scale": (self.n_features,)}
        for i, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes)):
            shapes[f"W{i}"], shapes[f"b{i}"] = (n_out, n_in), (n_out,)
        return shapes

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"filters": self.filters_, "feature_mean": self.standardiser_.mean,
                  "feature_scale": self.standardiser_.scale}
        for i, (W, b) in enumerate(self.head_):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        return arrays

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.filters_ = arrays["filters"].astype(np.float32)
        self.standardiser_ = cf.Standardiser(arrays["feature_mean"].astype(np.float32),
                                             arrays["feature_scale"].astype(np.float32))
        self.head_ = [(arrays[f"W{i}"].astype(np.float32), arrays[f"b{i}"].astype(np.float32))
                      for i in range(len(self.sizes) - 1)]

    # ------------------------------------------------------------------ looking inside

    def _backward(self, x: np.ndarray, digit: int):
        """(pooled maps (s, s, 2k), d(digit's score)/d(maps)) for one image x (784,), float64."""
        image = np.asarray(x, np.float32).reshape(1, cf.SIDE, cf.SIDE)
        maps = cf.pooled_maps(image, self.filters_, self.pool)[0].astype(np.float64)
        f = (maps.ravel() - self.standardiser_.mean) * self.standardiser_.scale
        head = [(W.astype(np.float64), b.astype(np.float64)) for W, b in self.head_]
        acts = [a[0] for a in forward(head, f[None, :], "relu")]
        gradient = head[-1][0][digit]
        for layer in range(len(head) - 1, 0, -1):
            gradient = (gradient * activation_slope(acts[layer], "relu")) @ head[layer - 1][0]
        return maps, (gradient * self.standardiser_.scale).reshape(maps.shape)

    def input_gradient(self, x: np.ndarray, digit: int) -> np.ndarray:
        _, gradient = self._backward(x, digit)
        return cf.input_gradient(np.asarray(x).reshape(cf.SIDE, cf.SIDE), self.filters_, self.pool,
                                 gradient.ravel()).ravel()

    def units(self) -> Units:
        """The 2k feature channels: each filter, then each filter negated (what its channel answers to)."""
        return Units("feature channel", np.concatenate([self.filters_, -self.filters_]).astype(np.float64))

    def unit_contributions(self, x: np.ndarray, digit: int) -> np.ndarray:
        """Each channel's part in `digit`'s score (2k,): gradient x activation summed over its map (a
        first-order estimate: the head is not linear)."""
        maps, gradient = self._backward(x, digit)
        return (maps * gradient).sum(axis=(0, 1))

    def unit_importance(self, X: np.ndarray | None = None) -> np.ndarray:
        """How much the head listens to each channel (2k,): the norm of its first layer's weights on the
        channel's standardised features (every feature has unit spread on the training images)."""
        W = np.asarray(self.head_[0][0], np.float64)
        side = cf.map_side(self.filter_size, self.pool)
        return np.linalg.norm(W.reshape(len(W), side * side, 2 * self.filters), axis=(0, 1))

    def feature_maps(self, x: np.ndarray) -> np.ndarray:
        """The image's 2k pooled maps (2k, s, s), as the head receives them before standardising."""
        image = np.asarray(x, np.float32).reshape(1, cf.SIDE, cf.SIDE)
        return cf.pooled_maps(image, self.filters_, self.pool)[0].transpose(2, 0, 1).astype(np.float64)

