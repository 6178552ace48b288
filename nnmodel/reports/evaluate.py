"""Evaluating a model on the splits of a data folder: the numbers of a report."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnmodel.data.splits import read_split_uint8, read_splits
from nnmodel.layout import Layout
from nnmodel.modelfile import load_model
from nnmodel.reports import other_writers
from nnmodel.reports.metrics import classification_report
from nnmodel.reports.render import write_report


def evaluate(net, split_data: dict, worst: int = 36) -> dict:
    """Metrics of `net` on {split: (X, y)}; the test split also gets its worst mistakes."""
    report = {"splits": {}}
    for name, (X, y) in split_data.items():
        proba = net.predict_proba(X)
        pred = proba.argmax(axis=1)
        report["splits"][name] = classification_report(y, pred, net.n_classes)
        if name == "test":
            wrong = np.flatnonzero(pred != y)
            order = wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")][:worst]
            report["mistakes"] = [{"index": int(i), "true": int(y[i]), "predicted": int(pred[i]),
                                   "confidence": float(proba[i, pred[i]]), "p_true": float(proba[i, y[i]])}
                                  for i in order]
    return report


def score_other_writers(net, data_dir: str | os.PathLike) -> dict:
    """Metrics of `net` on digits by other writers than MNIST's training set (see
    nnmodel.reports.other_writers): {"optdigits": ..., "drawn": ...}; optdigits says when it is missing."""
    scores = {}
    optdigits = other_writers.optdigits()
    if optdigits is None:
        scores["optdigits"] = {"missing": other_writers.MISSING}
    else:
        scores["optdigits"] = classification_report(optdigits[1], net.predict(optdigits[0]), net.n_classes)
    X, y = other_writers.drawn(read_test_pixels(data_dir), read_split_uint8(Path(data_dir) / "test.parquet")[1])
    scores["drawn"] = classification_report(y, net.predict(X), net.n_classes)
    return scores


def read_test_pixels(data_dir: str | os.PathLike) -> np.ndarray:
    """The test split's pixels, uint8 (n, 28, 28) (for the mistakes montage)."""
    return read_split_uint8(Path(data_dir) / "test.parquet")[0].reshape(-1, 28, 28)


def evaluate_model(layout: Layout, model_dir: str | os.PathLike, data_dir: str | os.PathLike,
                   report_name: str) -> Path:
    """The evaluation step: accuracy, per-class precision/recall/F1, confusion and worst mistakes on
    every split of `data_dir`, written to reports/<report_name>/; returns that folder."""
    net, meta = load_model(model_dir)
    report = evaluate(net, read_splits(data_dir))
    report["others"] = score_other_writers(net, data_dir)
    report.update({"model": meta.get("version", str(model_dir)), "data_dir": str(data_dir),
                   "data_manifest": layout.manifest(data_dir)["files"]})
    folder = layout.report_dir(report_name)
    write_report(folder, report, read_test_pixels(data_dir), f"Evaluation {report_name}")
    return folder
