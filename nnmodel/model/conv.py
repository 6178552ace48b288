"""The conv family: convolutional features with PCA filters (learned without gradients, one or two
stages, `nnmodel.model.conv_features`), standardised, then dense heads (ReLU hidden layers and a
softmax, `nnmodel.model.dense`) whose every weight is fitted by SciPy's L-BFGS-B; with several heads
(a committee) and test-time shifts, their probabilities are averaged.

Fitted state, saved as named arrays: `filters1` (k1, size1, size1, 1) and, with a second stage,
`filters2` (k2, size2, size2, 2 k1); the standardiser's `feature_mean` and `feature_scale`
(n_features,); each head's `h<j>_W0`, `h<j>_b0`, ... Looking inside: the units are stage 1's 2k1
feature channels (a filter, or the filter negated: what each answers to), the feature maps are an
image's stage-1 maps, and the pixel map comes from the exact input gradient through every stage.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from nnmodel.images.distort import shift_images
from nnmodel.model import conv_features as cf
from nnmodel.model import lbfgs
from nnmodel.model.base import (
    MAX_UNITS,
    Model,
    Units,
    check_lbfgs,
    check_number,
    check_sizes,
    check_whole,
)
from nnmodel.model.dense import activation_slope, forward, one_hot, output_proba, pack, unpack
from nnmodel.model.shards import LocalShards, allot, as_unit, dense_objective, drop

SHIFTS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]  # test_shifts takes the first N
PREDICT_CHUNK = 8192     # images per chunk when predicting (bounds the features' memory)
STAGE2_IMAGES = 10_000   # images whose stage-1 maps the stage-2 filters are learned from
REJECT_DIGITS_PER_NEGATIVE = 4  # the not-a-digit head sees this many digits per negative
IMPORTANCE_IMAGES = 200  # images unit_importance averages contributions over


class ConvFeatures(Model):
    """PCA-filter convolutional features and L-BFGS-B heads: fit, predict_proba, scikit-learn surface.

    filters, filter_size, pool     stage 1: PCA filters on the image, their side, the max-pooling window
    stage2_filters, stage2_size, stage2_pool   stage 2 on stage 1's maps (stage2_filters 0: none)
    patches       random patches each stage's filters are learned from
    hidden_sizes  each head's ReLU hidden layers ([] for a softmax on the features)
    lam           L2 weight penalty of the heads (lambda)    max_iter  L-BFGS-B iterations on all examples
    warmup        [[share, iterations], ...] L-BFGS-B stages on a random share of the examples first
    memory, tol, patience, eval_every   L-BFGS-B settings, as every family's
    heads         heads fitted (each from its own seed), their probabilities averaged: a committee
    not_a_digit   also learn whether an image is a digit at all, from training images labelled 10
                  (the data layer's negatives): a small head reading what the first digit head
                  sees (its last hidden layer and its ten scores, standardised); the digit heads
                  learn from the digits alone, so reading digits is not traded away;
                  not_a_digit_proba says how likely an image is no digit
    reject_hidden, reject_iter   that head's hidden units and L-BFGS-B iterations; it is fitted on
                  every negative and REJECT_DIGITS_PER_NEGATIVE times as many digits
    test_shifts   also read each image shifted one pixel this many ways (0-8) and average the answers
    seed          the filters' patches, the heads' initial weights and the warm-up subsets
    """

    family = "conv"

    def __init__(self, filters=8, filter_size=5, pool=2, stage2_filters=16, stage2_size=3, stage2_pool=2,
                 patches=100_000, hidden_sizes=(100,), lam=1.0, max_iter=50, warmup=((0.25, 50),), memory=20,
                 tol=1e-12, patience=None, eval_every=10, heads=1, test_shifts=4, not_a_digit=False,
                 reject_hidden=32, reject_iter=100, seed=0):
        self.filters = filters
        self.filter_size = filter_size
        self.pool = pool
        self.stage2_filters = stage2_filters
        self.stage2_size = stage2_size
        self.stage2_pool = stage2_pool
        self.patches = patches
        self.hidden_sizes = hidden_sizes
        self.lam = lam
        self.max_iter = max_iter
        self.warmup = warmup
        self.memory = memory
        self.tol = tol
        self.patience = patience
        self.eval_every = eval_every
        self.heads = heads
        self.test_shifts = test_shifts
        self.not_a_digit = not_a_digit
        self.reject_hidden = reject_hidden
        self.reject_iter = reject_iter
        self.seed = seed

    @classmethod
    def _check(cls, params: dict) -> None:
        check_whole(params, "filters", 1, 256)
        check_whole(params, "filter_size", 2, 13)
        check_whole(params, "pool", 1, 8)
        check_whole(params, "stage2_filters", 0, 256)
        check_whole(params, "stage2_size", 1, 9)
        check_whole(params, "stage2_pool", 1, 4)
        check_whole(params, "patches", 100, 10_000_000)
        check_sizes(params, "hidden_sizes", allow_empty=True)
        check_number(params, "lam", 0)
        check_lbfgs(params)
        check_whole(params, "heads", 1, 16)
        check_whole(params, "test_shifts", 0, len(SHIFTS))
        check_whole(params, "seed", 0)
        if not isinstance(params["not_a_digit"], bool):
            raise ValueError(f"not_a_digit must be true or false, not {params['not_a_digit']!r}")
        check_whole(params, "reject_hidden", 1, MAX_UNITS)
        check_whole(params, "reject_iter", 1, MAX_UNITS)
        warmup = params["warmup"]
        if not isinstance(warmup, (list, tuple)) or any(
                not isinstance(stage, (list, tuple)) or len(stage) != 2 or isinstance(stage[1], bool)
                or not isinstance(stage[0], (int, float)) or not 0 < stage[0] < 1
                or not isinstance(stage[1], int) or not 1 <= stage[1] <= MAX_UNITS for stage in warmup):
            raise ValueError(f"warmup must be a list of [share in (0, 1), iterations >= 1] stages, not {warmup!r}")
        side, _, _ = cf.output_shape(cls.stage_shapes(params))
        if side < 1:
            raise ValueError("the stages leave no map: a smaller filter_size, pool, stage2_size or stage2_pool")

    # ------------------------------------------------------------------ shapes

    @staticmethod
    def stage_shapes(params: dict) -> list[tuple[int, int, int]]:
        """(filters, size, pool) of each stage."""
        stages = [(params["filters"], params["filter_size"], params["pool"])]
        if params["stage2_filters"]:
            stages.append((params["stage2_filters"], params["stage2_size"], params["stage2_pool"]))
        return stages

    @property
    def n_features(self) -> int:
        return int(np.prod(cf.output_shape(self.stage_shapes(self.get_params()))))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer of each digit head, features first: e.g. (800, 100, 10)."""
        return (self.n_features, *map(int, self.hidden_sizes), 10)

    @property
    def reject_sizes(self) -> tuple[int, ...]:
        """Units per layer of the not-a-digit head: (110, 32, 2): the first digit head's last hidden
        layer and ten scores in; a digit, not a digit out."""
        return (self.sizes[-2] + 10, int(self.reject_hidden), 2)

    def describe(self) -> str:
        shapes = self.stage_shapes(self.get_params())
        stages = ", then ".join(f"{k} PCA filters {s}x{s} pool {p}" for k, s, p in shapes)
        side, _, channels = cf.output_shape(shapes)
        heads = f"{self.heads} heads" if self.heads > 1 else "head"
        shifts = f", reads {self.test_shifts} shifted copies too" if self.test_shifts else ""
        reject = f" and a not-a-digit head {'-'.join(map(str, self.reject_sizes))}" if self.not_a_digit else ""
        return (f"conv features: {stages} ({channels} maps {side}x{side}), {heads} "
                f"{'-'.join(map(str, self.sizes))}{reject}{shifts}")

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y, validation=None, progress=None) -> ConvFeatures:
        """Learn the filters, compute and standardise the features of X (m, 784) in [0, 1], and fit
        each head to y (m,) with L-BFGS-B (the warm-up stages first); returns self. `validation`
        (X_val, y_val) is checked every `eval_every` iterations; progress(info) after every iteration."""
        return self.fit_shards(LocalShards.of_arrays(np.asarray(X).reshape(-1, cf.SIDE * cf.SIDE), y), validation,
                               progress)

    def fit_shards(self, shards, validation=None, progress=None) -> ConvFeatures:
        """fit, on the examples of `shards` (nnmodel.model.shards: in this process or on a Dask cluster):
        each shard computes its own features; filters, standardiser and every L-BFGS-B evaluation come
        from the shards' sums (of patches, features and costs), so no training matrix is gathered."""
        self.check_params(self.get_params())
        digits, negatives = self.prepare_shards(shards)
        check = None
        if validation is not None:  # checks read the validation images' features, computed once
            F_val, y_val = self._standardised_features(validation[0]), np.asarray(validation[1])

            def check():
                return float(np.mean(self._heads_proba(F_val).argmax(axis=1) == y_val))
        self.heads_, self.reject_head_ = [], None
        records = []
        for head in range(self.heads):
            self._fit_head(shards, digits, head, check, progress)
            records.append(super().training_record())
        self.head_records_ = records
        if self.not_a_digit:
            self._fit_reject_head(shards, digits, negatives)
        return self

    def prepare_shards(self, shards) -> tuple[list[int], list[int]]:
        """The first part of a fit: check the labels, learn the filters and the standardiser, and
        leave each shard holding its standardised features and its digits' targets ("digits": (F, Y));
        returns each shard's number of digits and of negatives."""
        counts = np.array(shards.map(label_counts))           # (shards, 3): digits, negatives, bad labels
        if counts[:, 2].any() or (counts[:, 1].any() and not self.not_a_digit):
            raise ValueError("labels must be digits 0-9 (and 10, not a digit, only with not_a_digit=True)")
        if self.not_a_digit and not counts[:, 1].any():
            raise ValueError("not_a_digit=True needs training images labelled 10 (not a digit): none given")
        digits = counts[:, 0].tolist()
        shards.update(digits_first)
        self.stages_ = self._learn_stages(shards, digits)
        shards.update(shard_features, self.stages_)
        self.standardiser_ = cf.Standardiser.from_sums(*shards.total(feature_sums))
        shards.update(standardised, self.standardiser_.mean, self.standardiser_.scale)
        return digits, counts[:, 1].tolist()

    def _fit_reject_head(self, shards, digits: list[int], negatives: list[int]) -> None:
        """The not-a-digit head: L-BFGS-B on every negative and up to REJECT_DIGITS_PER_NEGATIVE times as
        many digits drawn at random (copies in other hands among them, so unusual hands stay digits),
        reading what the first digit head sees of each."""
        picks = allot(min(sum(digits), REJECT_DIGITS_PER_NEGATIVE * sum(negatives)), digits)
        shards.update(seen_rows, picks, self.heads_[0], self.seed)
        count, total, squares = shards.total(seen_sums)
        self.reject_standardiser_ = cf.Standardiser.from_sums(count, total, squares)
        shards.update(reject_inputs, self.reject_standardiser_.mean, self.reject_standardiser_.scale)
        objective = dense_objective(shards, "reject", self.reject_sizes, self.lam, "relu", "softmax", count)
        started = time.perf_counter()
        result = lbfgs.minimise(objective, self._initial_weights(self.reject_sizes, [self.seed, 19]),
                                max_iter=self.reject_iter, memory=self.memory, tol=self.tol)
        shards.update(drop, "reject")
        self.reject_head_ = [(W.copy(), b.copy()) for W, b in unpack(result.flat, self.reject_sizes)]
        self.reject_record_ = {"iterations": result.n_iter, "examples": int(count),
                               "seconds": round(time.perf_counter() - started, 2)}

    def _learn_stages(self, shards, digits: list[int]) -> list[tuple[np.ndarray, int]]:
        """Each stage's PCA filters, from `patches` random patches of the digits (each shard gives its
        share, drawn from its own digits); stage 2's from the stage-1 maps of STAGE2_IMAGES digits."""
        rows = shards.map(stage1_patches, allot(self.patches, digits), self.filter_size, self.seed)
        stages = [(self._filters_from(rows, self.filters, self.filter_size, 1), self.pool)]
        if self.stage2_filters:
            images = allot(min(STAGE2_IMAGES, sum(digits)), digits)
            rows = shards.map(stage2_patches, images, allot(self.patches, images), stages, self.stage2_size,
                              self.seed)
            stages.append((self._filters_from(rows, self.stage2_filters, self.stage2_size, 2 * self.filters),
                           self.stage2_pool))
        return stages

    @staticmethod
    def _filters_from(rows: list[np.ndarray], k: int, size: int, channels: int) -> np.ndarray:
        return cf.pca_filters(np.concatenate(rows), k).reshape(k, size, size, channels)

    def _fit_head(self, shards, digits: list[int], head: int, check, progress) -> None:
        """Fit head number `head` (appended to heads_) on the shards' standardised digit features with
        L-BFGS-B, the warm-up stages each on a random share of every shard's digits."""
        sizes = self.sizes
        shown = {"key": None}

        def objective_on(key, share=None, stage=0):
            m = sum(digits) if share is None else max(1, int(share * sum(digits)))
            whole = dense_objective(shards, key, sizes, self.lam, "relu", "softmax", m)

            def objective(flat):  # a warm-up's rows are copied out when its stage starts, dropped after
                if shown["key"] != key:
                    if shown["key"] not in (None, "digits"):
                        shards.update(drop, shown["key"])
                    if share is not None:
                        shards.update(subset, key, allot(m, digits), [self.seed, 11, head, stage])
                    shown["key"] = key
                return whole(flat)
            return objective

        stages = [(objective_on(f"warmup{k}", share, k), int(n), share) for k, (share, n) in enumerate(self.warmup)]
        stages.append((objective_on("digits"), self.max_iter))
        self.heads_.append(None)

        def set_flat(flat):
            self.heads_[head] = [(W.copy(), b.copy()) for W, b in unpack(flat, sizes)]

        def counted(info):  # one count of iterations across the heads, for the progress line
            total = info["max_iter"]
            later_heads = (self.heads - head - 1) * (info["seconds"] + info["eta_seconds"])
            progress({**info, "iteration": head * total + info["iteration"], "max_iter": self.heads * total,
                      "eta_seconds": info["eta_seconds"] + later_heads})

        self._minimise(stages, self._initial_weights(sizes, [self.seed, 13, head]), set_flat, sum(digits), check,
                       counted if progress and self.heads > 1 else progress)
        if shown["key"] not in (None, "digits"):
            shards.update(drop, shown["key"])

    @staticmethod
    def _initial_weights(sizes: tuple[int, ...], seed: list[int]) -> np.ndarray:
        """He-scaled normal weights for the ReLU layers (the features are standardised), zero biases."""
        rng = np.random.default_rng(seed)
        last = len(sizes) - 2
        params = [(rng.normal(0, np.sqrt((1 if i == last else 2) / n_in), (n_out, n_in)), np.zeros(n_out))
                  for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))]
        return pack(params)

    def training_record(self) -> dict:
        """What the fit did; with several heads, the iterations and seconds of all of them, the history
        and the kept iteration of the first, and each head's record under "heads"."""
        records = self.head_records_
        record = dict(records[0])
        if len(records) > 1:
            record.update(iterations=sum(r["iterations"] for r in records),
                          seconds=round(sum(r["seconds"] for r in records), 2),
                          heads=[{k: v for k, v in r.items() if k != "history"} for r in records])
        if getattr(self, "reject_record_", None):
            record["not_a_digit_head"] = self.reject_record_
        return record

    # ------------------------------------------------------------------ predicting

    def _standardised_features(self, X) -> np.ndarray:
        return self.standardiser_.apply(cf.features(np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE), self.stages_))

    def _reject_proba(self, F: np.ndarray) -> np.ndarray:
        """How likely each image of standardised features F is no digit (n,)."""
        seen = self.reject_standardiser_.apply(seen_by_head(self.heads_[0], F))
        return output_proba(forward(self.reject_head_, seen, "relu")[-1], "softmax")[:, 1]

    def _heads_proba(self, F: np.ndarray) -> np.ndarray:
        """The digit heads' probabilities (n, 10), averaged over the heads fitted so far."""
        fitted = [h for h in self.heads_ if h is not None]
        return np.mean([output_proba(forward(h, F, "relu")[-1], "softmax") for h in fitted], axis=0) \
            .astype(np.float32)

    def decision_function(self, X) -> np.ndarray:
        """Each digit's score (n, 10): the logits, averaged over the heads (the image as given, no shifts)."""
        images = np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE)
        chunks = [self._standardised_features(images[start: start + PREDICT_CHUNK])
                  for start in range(0, len(images), PREDICT_CHUNK)]
        if not chunks:
            return np.zeros((0, 10), np.float32)
        return np.concatenate([np.mean([forward(h, F, "relu")[-1] for h in self.heads_], axis=0) for F in chunks])

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, 10) float32 of images (n, 784) in [0, 1], averaged over the heads and, with
        test_shifts, over the image and its shifted copies."""
        return self.proba_and_not_a_digit(X)[0]

    def not_a_digit_proba(self, X) -> np.ndarray | None:
        """How likely each image (n, 784) is not a digit at all (n,) float32; None without that class."""
        return self.proba_and_not_a_digit(X)[1]

    def proba_and_not_a_digit(self, X) -> tuple[np.ndarray, np.ndarray | None]:
        """predict_proba and not_a_digit_proba in one pass over the features (each averaged over the
        image and its shifted copies)."""
        images = np.asarray(X).reshape(-1, cf.SIDE, cf.SIDE)
        proba = np.empty((len(images), 10), np.float32)
        reject = np.empty(len(images), np.float32) if self.not_a_digit else None
        for start in range(0, len(images), PREDICT_CHUNK):
            block = images[start: start + PREDICT_CHUNK]
            p, r = 0.0, 0.0
            for dy, dx in [(0, 0), *SHIFTS[: self.test_shifts]]:
                F = self._standardised_features(shift_images(block, dy, dx) if dy or dx else block)
                p = p + self._heads_proba(F)
                if reject is not None:
                    r = r + self._reject_proba(F)
            proba[start: start + len(block)] = p / (1 + self.test_shifts)
            if reject is not None:
                reject[start: start + len(block)] = r / (1 + self.test_shifts)
        return proba, reject

    # ------------------------------------------------------------------ named arrays

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        shapes, channels = {}, 1
        for i, (k, size, _) in enumerate(self.stage_shapes(self.get_params()), start=1):
            shapes[f"filters{i}"] = (k, size, size, channels)
            channels = 2 * k
        shapes["feature_mean"] = shapes["feature_scale"] = (self.n_features,)
        for j in range(self.heads):
            for i, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes)):
                shapes[f"h{j}_W{i}"], shapes[f"h{j}_b{i}"] = (n_out, n_in), (n_out,)
        if self.not_a_digit:
            shapes["reject_mean"] = shapes["reject_scale"] = (self.reject_sizes[0],)
            for i, (n_in, n_out) in enumerate(itertools.pairwise(self.reject_sizes)):
                shapes[f"reject_W{i}"], shapes[f"reject_b{i}"] = (n_out, n_in), (n_out,)
        return shapes

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"filters{i}": f for i, (f, _) in enumerate(self.stages_, start=1)}
        arrays.update(feature_mean=self.standardiser_.mean, feature_scale=self.standardiser_.scale)
        for j, head in enumerate(self.heads_):
            for i, (W, b) in enumerate(head):
                arrays[f"h{j}_W{i}"], arrays[f"h{j}_b{i}"] = W, b
        if self.reject_head_:
            arrays.update(reject_mean=self.reject_standardiser_.mean, reject_scale=self.reject_standardiser_.scale)
        for i, (W, b) in enumerate(self.reject_head_ or []):
            arrays[f"reject_W{i}"], arrays[f"reject_b{i}"] = W, b
        return arrays

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        shapes = self.stage_shapes(self.get_params())
        self.stages_ = [(arrays[f"filters{i}"].astype(np.float32), pool)
                        for i, (_, _, pool) in enumerate(shapes, start=1)]
        self.standardiser_ = cf.Standardiser(arrays["feature_mean"].astype(np.float32),
                                             arrays["feature_scale"].astype(np.float32))
        self.heads_ = [[(arrays[f"h{j}_W{i}"].astype(np.float32), arrays[f"h{j}_b{i}"].astype(np.float32))
                        for i in range(len(self.sizes) - 1)] for j in range(self.heads)]
        self.reject_head_ = [(arrays[f"reject_W{i}"].astype(np.float32), arrays[f"reject_b{i}"].astype(np.float32))
                             for i in range(len(self.reject_sizes) - 1)] if self.not_a_digit else None
        if self.not_a_digit:
            self.reject_standardiser_ = cf.Standardiser(arrays["reject_mean"].astype(np.float32),
                                                        arrays["reject_scale"].astype(np.float32))

    # ------------------------------------------------------------------ looking inside

    def _backward(self, x: np.ndarray, digit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """For one image x (784,): the input of each stage [image (28, 28, 1), stage 1's maps, ...] and
        d(digit's score)/d(each of them), float64 (the score: the logit averaged over the heads)."""
        image = np.asarray(x, np.float32).reshape(1, cf.SIDE, cf.SIDE)
        maps = [image.reshape(cf.SIDE, cf.SIDE, 1), *[m[0] for m in cf.stage_maps(image, self.stages_)]]
        f = (maps[-1].astype(np.float64).ravel() - self.standardiser_.mean) * self.standardiser_.scale
        gradient = np.zeros_like(f)
        for head in self.heads_:
            layers = [(W.astype(np.float64), b.astype(np.float64)) for W, b in head]
            acts = [a[0] for a in forward(layers, f[None, :], "relu")]
            g = layers[-1][0][digit]
            for layer in range(len(layers) - 1, 0, -1):
                g = (g * activation_slope(acts[layer], "relu")) @ layers[layer - 1][0]
            gradient += g / len(self.heads_)
        gradients = [(gradient * self.standardiser_.scale).reshape(maps[-1].shape)]
        for (filters, pool), stage_input in zip(reversed(self.stages_), reversed(maps[:-1])):
            gradients.insert(0, cf.stage_backward(stage_input, filters, pool, gradients[0]))
        return maps, gradients

    def input_gradient(self, x: np.ndarray, digit: int) -> np.ndarray:
        return self._backward(x, digit)[1][0].ravel()

    def units(self) -> Units:
        """Stage 1's 2k feature channels: each filter, then each filter negated (what its channel answers to)."""
        first = self.stages_[0][0][..., 0]
        return Units("feature channel", np.concatenate([first, -first]).astype(np.float64))

    def unit_contributions(self, x: np.ndarray, digit: int) -> np.ndarray:
        """Each stage-1 channel's part in `digit`'s score (2k,): gradient x activation summed over its
        map (a first-order estimate: what follows is not linear)."""
        maps, gradients = self._backward(x, digit)
        return (maps[1].astype(np.float64) * gradients[1]).sum(axis=(0, 1))

    def unit_importance(self, X: np.ndarray | None = None) -> np.ndarray:
        """How much each stage-1 channel matters (2k,) >= 0: with a sample X (m, 784), the mean size of
        its contribution to the answer over up to IMPORTANCE_IMAGES of them; without, the size of the
        weights that read it next (stage 2's filters, or the first layer of the heads)."""
        if X is not None and len(X):
            X = np.asarray(X).reshape(-1, cf.SIDE * cf.SIDE)[:IMPORTANCE_IMAGES]
            digits = self.predict(X)
            return np.mean([np.abs(self.unit_contributions(x, int(d))) for x, d in zip(X, digits)], axis=0)
        if len(self.stages_) > 1:
            return np.sqrt((self.stages_[1][0].astype(np.float64) ** 2).sum(axis=(0, 1, 2)))
        W = np.mean([np.abs(h[0][0]) for h in self.heads_], axis=0).astype(np.float64)
        return np.linalg.norm(W.reshape(len(W), -1, 2 * self.filters), axis=(0, 1))

    def feature_maps(self, x: np.ndarray) -> np.ndarray:
        """The image's stage-1 maps (2k, s, s): what the next stage (or the heads) receive from it."""
        image = np.asarray(x, np.float32).reshape(1, cf.SIDE, cf.SIDE)
        return cf.stage_maps(image, self.stages_[:1])[0][0].transpose(2, 0, 1).astype(np.float64)


# ------------------------------------------------------------------ the shards' work (run where they live)

def label_counts(state: dict) -> tuple[int, int, int]:
    """A shard's digits, negatives (label 10) and labels that are neither."""
    y = state["y"]
    return int((y < 10).sum()), int((y == 10).sum()), int(((y < 0) | (y > 10)).sum())


def digits_first(state: dict) -> dict:
    """The shard's images (n, 28, 28), digits first and negatives after them (stable), and how many
    digits: {"index", "pixels", "y", "n_digits"}."""
    pixels, y = state["pixels"], state["y"]
    order = np.argsort(y == 10, kind="stable")
    if not (order[:-1] < order[1:]).all():
        pixels, y = pixels[order], y[order]
    return {"index": state["index"], "pixels": np.asarray(pixels).reshape(-1, cf.SIDE, cf.SIDE), "y": y,
            "n_digits": int((y < 10).sum())}


def stage1_patches(state: dict, allotted: list[int], size: int, seed: int) -> np.ndarray:
    """This shard's share of stage 1's random patches, from its digits."""
    index = state["index"]
    rng = np.random.default_rng([seed, 7, size, 1, index])
    digits = state["pixels"][: state["n_digits"]]
    maps = as_unit(digits).reshape(-1, cf.SIDE, cf.SIDE, 1)
    return cf.random_patches(maps, size, allotted[index], rng)


def stage2_patches(state: dict, images: list[int], allotted: list[int], stages: list, size: int,
                   seed: int) -> np.ndarray:
    """This shard's share of stage 2's random patches: from the stage-1 maps of its share of digits."""
    index = state["index"]
    rng = np.random.default_rng([seed, 9, index])
    chosen = np.sort(rng.choice(state["n_digits"], images[index], replace=False))
    if not len(chosen):
        return np.zeros((0, size * size * 2 * len(stages[-1][0])), np.float32)
    maps = as_unit(state["pixels"][chosen])
    first = np.concatenate([cf.stage_maps(maps[s: s + cf.CHUNK], stages)[-1] for s in range(0, len(maps), cf.CHUNK)])
    return cf.random_patches(first, size, allotted[index], np.random.default_rng([seed, 7, size, 2, index]))


def shard_features(state: dict, stages: list) -> dict:
    """The shard's features (n, n_features) float32 in place of its pixels."""
    F = cf.features(state["pixels"], stages)
    return {"index": state["index"], "F": F, "y": state["y"], "n_digits": state["n_digits"]}


def feature_sums(state: dict):
    """Rows, sums and sums of squares of the features of the shard's digits (float64)."""
    return cf.sums(state["F"][: state["n_digits"]])


def standardised(state: dict, mean: np.ndarray, scale: np.ndarray) -> dict:
    """The shard with its features standardised, and its digits' one-hot targets: "digits" (F, Y)."""
    F = cf.Standardiser(mean, scale).applied(state["F"])
    n = state["n_digits"]
    return {**state, "F": F, "digits": (F[:n], one_hot(state["y"][:n], 10, np.float32))}


def subset(state: dict, key: str, allotted: list[int], seed: list[int]) -> dict:
    """The shard with a random share of its digits (allotted[index] of them, rows in order) under `key`."""
    index, n = state["index"], state["n_digits"]
    rows = np.sort(np.random.default_rng([*seed, index]).choice(n, allotted[index], replace=False))
    F, Y = state["digits"]
    return {**state, key: (F[rows], Y[rows])}


def seen_by_head(head: list, F: np.ndarray) -> np.ndarray:
    """What a digit head sees of standardised features F: its last hidden layer and its ten scores,
    (n, hidden + 10) float32 (the not-a-digit head's input before standardising)."""
    acts = forward(head, F, "relu")
    return np.concatenate([acts[-2], acts[-1]], axis=1).astype(np.float32)


def seen_rows(state: dict, picks: list[int], head: list, seed: int) -> dict:
    """The shard with what `head` sees of its negatives and of picks[index] of its digits ("seen"), and
    whether each is a negative ("seen_y")."""
    index, n = state["index"], state["n_digits"]
    picked = np.sort(np.random.default_rng([seed, 17, index]).choice(n, picks[index], replace=False))
    rows = np.concatenate([picked, np.arange(n, len(state["F"]))]).astype(np.intp)
    seen = np.concatenate([seen_by_head(head, state["F"][rows[s: s + PREDICT_CHUNK]])
                           for s in range(0, len(rows), PREDICT_CHUNK)]) if len(rows) \
        else np.zeros((0, head[-1][0].shape[1] + 10), np.float32)
    return {**state, "seen": seen, "seen_y": (rows >= n).astype(np.intp)}


def seen_sums(state: dict):
    return cf.sums(state["seen"])


def reject_inputs(state: dict, mean: np.ndarray, scale: np.ndarray) -> dict:
    """The shard with the not-a-digit head's standardised inputs and targets under "reject"."""
    inputs = cf.Standardiser(mean, scale).applied(state["seen"])
    rest = drop(state, "seen", "seen_y")
    return {**rest, "reject": (inputs, one_hot(state["seen_y"], 2, np.float32))}
