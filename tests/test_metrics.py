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


def test_other_writers_digits_ship_with_the_code_and_need_no_scikit_learn(tmp_path):
    import subprocess
    import sys

    from nnmodel.errors import DataError
    from nnmodel.reports import other_writers

    code = ("import sys; sys.modules['sklearn'] = None\n"  # as on a plain install: scikit-learn cannot be imported
            "from nnmodel.reports.other_writers import optdigits\n"
            "X, y = optdigits(); print(X.shape, sorted(set(y.tolist())))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1797, 784) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
    altered = bytearray(other_writers.OPTDIGITS_FILE.read_bytes())
    altered[100] ^= 1
    (tmp_path / "optdigits.csv.gz").write_bytes(bytes(altered))
    with pytest.raises(DataError, match="optdigits.csv.gz: not the optdigits test digits this version ships"):
        other_writers.optdigits(tmp_path / "optdigits.csv.gz")
