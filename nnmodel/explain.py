"""Looking inside a model for one image: why it answered what it did, with the parts its family has.

Pixels are the MNIST form: 784 values (or 28x28) in [0, 1], digit light on dark (uint8 0..255 is
scaled). A digit's "score" is its logit: the model's output before softmax (or sigmoid), so the answer
is the digit with the highest score. What an explanation holds depends on the model's optional parts
(`nnmodel.model.base`): the pixel map needs an input gradient, the top units need units with
contributions, the feature maps need feature maps; a part the model lacks is None, and the pictures
say so. The drawing is in `nnmodel.reports.explanation`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnmodel.model.base import Model, Units
from nnmodel.reject import THRESHOLD

SIDE = 28                   # MNIST images are SIDE x SIDE pixels


@dataclass
class Explanation:
    """Why the model answered `digit` for `pixels` (28, 28) in [0, 1].

    proba (10,) the probabilities; score the answer's logit (None: the model gives no scores);
    attribution (28, 28) each pixel's push on that score, gradient x input (None: no input gradient);
    units the model's units with their pictures, and top_units [(unit index, contribution to the
    score)], largest |.| first (None and []: no units); feature_maps (c, h, w) the image as the
    model's first stage sees it (None: no feature maps); not_a_digit how likely the image is no
    digit at all (None: the model has no such class), rejected whether the reject decision says so
    (then digit is the digit it is most like).
    """

    digit: int
    proba: np.ndarray
    score: float | None
    attribution: np.ndarray | None
    units: Units | None
    top_units: list[tuple[int, float]]
    feature_maps: np.ndarray | None
    pixels: np.ndarray
    not_a_digit: float | None = None
    rejected: bool = False


def as_pixels(pixels) -> np.ndarray:
    """(784,) float64 in [0, 1] from 784 values or a 28x28 array (uint8 is divided by 255)."""
    array = np.asarray(pixels)
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return array.astype(np.float64).reshape(SIDE * SIDE) / scale


def answer(model: Model, x: np.ndarray) -> tuple[int, np.ndarray]:
    """The model's digit and probabilities (10,) for one image x (784,): `predict_proba`'s answer,
    so the explained digit is always the one every other part of the project reports."""
    proba = model.predict_proba(x[None, :])[0]
    return int(proba.argmax()), proba


def attribution(model: Model, pixels, digit: int | None = None) -> np.ndarray | None:
    """Each pixel's contribution to `digit`'s score (default: the answer's), (28, 28): gradient x input;
    None when the model gives no input gradient.

    Why not occlusion (grey out patches, watch the score): that needs hundreds of forward passes and
    depends on patch size and fill; the gradient is exact, from one backward pass (about 0.15 ms for
    784-100-10). Ink-free pixels (0) get exactly 0, so the map only ever points at ink.
    What holds: pixel i's value is x_i * d score / d x_i, and the values sum to d/dt score(t * pixels)
    at t = 1, the score's rate of change as all the ink grows together. That equals the score's change
    from a black image, score(pixels) - score(0), exactly for a linear model or a ReLU network without
    biases, not for saturating sigmoid units: on a 784-64-10 sigmoid model the sum was a median 1/8 of
    that change (5%-95%: -0.04 to 0.34). So read the map for where and which way, not for how much.
    """
    x = as_pixels(pixels)
    if digit is None:
        digit, _ = answer(model, x)
    gradient = model.input_gradient(x, digit)
    return None if gradient is None else (np.asarray(gradient, dtype=np.float64) * x).reshape(SIDE, SIDE)


def unit_contributions(model: Model, pixels, digit: int | None = None) -> np.ndarray | None:
    """Each unit's contribution to `digit`'s score (default: the answer's), (k,); None without units."""
    x = as_pixels(pixels)
    if digit is None:
        digit, _ = answer(model, x)
    return model.unit_contributions(x, digit)


def explain(model: Model, pixels, top: int = 6) -> Explanation:
    """Everything a picture of one answer needs: digit, probabilities, score, pixel map, top units,
    feature maps (each as far as the model has that part)."""
    x = as_pixels(pixels)
    digit, proba = answer(model, x)
    scores = model.decision_function(x[None, :])
    gradient = model.input_gradient(x, digit)
    units = model.units()
    contributions = model.unit_contributions(x, digit) if units is not None else None
    top_units = []
    if contributions is not None:
        order = np.argsort(-np.abs(contributions), kind="stable")[:top]
        top_units = [(int(u), float(contributions[u])) for u in order]
    p_not = model.not_a_digit_proba(x[None, :].astype(np.float32))
    p_not = None if p_not is None else float(p_not[0])
    return Explanation(digit, np.asarray(proba, dtype=np.float64),
                       None if scores is None else float(scores[0, digit]),
                       None if gradient is None else (np.asarray(gradient, dtype=np.float64) * x).reshape(SIDE, SIDE),
                       units, top_units, model.feature_maps(x), x.reshape(SIDE, SIDE), p_not,
                       p_not is not None and p_not >= THRESHOLD)
