"""How far a model's confidence can be trusted, from its probabilities on labelled images:

calibration      does "90% sure" mean right 9 times in 10? per confidence bin, and the ECE
threshold_table  what `digits predict --min-confidence` would flag at each threshold

Numbers come back as plain floats and ints (None where undefined), ready for JSON.
"""
from __future__ import annotations

import numpy as np


def confidences(proba: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each answer's confidence (its top probability) (n,) and whether it was right (n,) bool."""
    proba = np.asarray(proba)
    return proba.max(axis=1), proba.argmax(axis=1) == np.asarray(labels)


def calibration(proba: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict:
    """How far confidence matches accuracy, from probabilities (n, 10) and true labels (n,).

    Answers are put in `bins` equal confidence bins over [0, 1]; each bin has low, high, count,
    confidence (mean top probability) and accuracy (None when empty). ece: the expected calibration
    error, sum over bins of count / n * |accuracy - confidence| (0 = "90% sure" is right 90% of the time).
    """
    confidence, right = confidences(proba, labels)
    n = len(confidence)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else None
        accuracy = float(right[inside].mean()) if count else None
        if count:
            ece += count / n * abs(accuracy - mean_confidence)
        rows.append({"low": b / bins, "high": (b + 1) / bins, "count": count, "confidence": mean_confidence,
                     "accuracy": accuracy})
    return {"n": n, "accuracy": float(right.mean()) if n else None,
            "confidence": float(confidence.mean()) if n else None, "ece": float(ece), "bins": rows}


THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def threshold_table(proba: np.ndarray, labels: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    """What `digits predict --min-confidence T` would flag (top probability below T), per threshold:

    flagged          share of all images flagged            errors_caught  share of the wrong answers flagged
    right_flagged    share of the right answers flagged (the cost: good answers sent for checking)
    kept_accuracy    accuracy of the answers not flagged    (shares are None when nothing to divide by)
    """
    confidence, right = confidences(proba, labels)
    rows = []
    for threshold in thresholds:
        flagged = confidence < threshold
        rows.append({"threshold": float(threshold), "flagged": share(flagged), "flagged_count": int(flagged.sum()),
                     "errors_caught": share(flagged[~right]), "right_flagged": share(flagged[right]),
                     "kept_accuracy": share(right[~flagged]), "kept_count": int((~flagged).sum())})
    return rows


def share(mask: np.ndarray) -> float | None:
    """The share of True in a boolean array; None for an empty one."""
    return float(mask.mean()) if mask.size else None
