"""The reject decision every reading path shares (batch prediction, numbers, the viewer, the API):
an image, or a glyph of a number, is "not a digit" when the model's not-a-digit class says so with at
least `threshold` probability (the conv family's not-a-digit head). Models without it (older files,
the MLP family) never reject.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.5  # the default: the model finds "not a digit" at least as likely as "a digit"


@dataclass
class Reading:
    """proba (n, 10) the digits' probabilities; not_a_digit (n,) how likely each is no digit (NaN
    when the model cannot tell); rejected (n,) bool: not a digit at this threshold."""

    proba: np.ndarray
    not_a_digit: np.ndarray
    rejected: np.ndarray


def read_digits(model, X, threshold: float = THRESHOLD) -> Reading:
    """Read MNIST-form images X (n, 784) with `model`, deciding which are not digits."""
    check_threshold(threshold)
    both = getattr(model, "proba_and_not_a_digit", None)
    proba, not_a_digit = both(X) if both else (model.predict_proba(X), None)
    if not_a_digit is None:
        not_a_digit = np.full(len(proba), np.nan, np.float32)
        return Reading(proba, not_a_digit, np.zeros(len(proba), bool))
    return Reading(proba, not_a_digit, not_a_digit >= threshold)


def check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"the not-a-digit threshold must be in (0, 1], not {threshold!r}")


def reason(p: float, threshold: float) -> str:
    """The error column's reason for a rejected image."""
    return f"not a digit ({p:.0%} likely; the threshold is {threshold:.0%})"
