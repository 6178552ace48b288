"""Metrics against a hand-worked example."""
import numpy as np
import pytest

from nnmodel.reports.metrics import classification_report, confusion_matrix


def test_confusion_and_report_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    report = classification_report(y_true, y_pred, 3)
    assert report["accuracy"] == pytest.approx(4 / 6)
    p = [1.0, 0.5, 0.5]
    r = [2 / 3, 0.5, 1.0]
    f = [2 * a * b / (a + b) for a, b in zip(p, r)]
    for d in range(3):
        assert report["per_class"][d]["precision"] == pytest.approx(p[d])
        assert report["per_class"][d]["recall"] == pytest.approx(r[d])
        assert report["per_class"][d]["f1"] == pytest.approx(f[d])
    assert report["macro"]["f1"] == pytest.approx(sum(f) / 3)
    assert report["weighted"]["recall"] == pytest.approx(report["accuracy"])
    assert report["weighted"]["f1"] == pytest.approx((3 * f[0] + 2 * f[1] + f[2]) / 6)


def test_class_never_predicted_has_zero_precision_not_nan():
    report = classification_report([0, 1], [0, 0], 3)
    assert report["per_class"][1]["precision"] == 0.0 and report["per_class"][2]["support"] == 0
