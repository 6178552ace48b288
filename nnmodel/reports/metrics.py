"""Classification metrics in NumPy: confusion matrix, per-class precision/recall/F1, averages."""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts (n_classes, n_classes): rows are true digits, columns predicted digits."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.intp), np.asarray(y_pred, dtype=np.intp)), 1)
    return cm


def classification_report(y_true, y_pred, n_classes: int = 10) -> dict:
    """accuracy, per_class [{digit, precision, recall, f1, support}], macro (over the digits that
    occur, true or predicted) and weighted averages, and the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = [{"digit": d, "precision": float(precision[d]), "recall": float(recall[d]),
                  "f1": float(f1[d]), "support": int(support[d])} for d in range(n_classes)]
    weights = support / max(support.sum(), 1)
    present = (support > 0) | (predicted > 0)  # the macro average is over digits seen (as scikit-learn's)

    def average(w):
        return {"precision": float(np.sum(w * precision)), "recall": float(np.sum(w * recall)),
                "f1": float(np.sum(w * f1))}

    return {"accuracy": float(tp.sum() / max(cm.sum(), 1)), "n": int(cm.sum()), "per_class": per_class,
            "macro": average(present / max(present.sum(), 1)), "weighted": average(weights),
            "confusion": cm.tolist()}
