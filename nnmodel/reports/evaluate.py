"""Evaluating a model on the splits of a data folder: the numbers of a report."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnmodel.data.splits import read_split_uint8, read_splits
from nnmodel.errors import DataError
from nnmodel.model.modelfile import load_model
from nnmodel.reports import calibration, other_writers, pictures
from nnmodel.reports.metrics import classification_report
from nnmodel.reports.render import write_report
from nnmodel.store.feedback import load_labelled
from nnmodel.store.layout import Layout

DIGITS = 10   # classes of every report: the digits 0-9
TRAIN_SAMPLE = 10_000   # training images a report scores (a fixed sample: each costs as much as a test image)


def evaluate(model, split_data: dict, worst: int = 36) -> dict:
    """Metrics of `model` on {split: (X, y)}; the test split also gets its worst mistakes, how far its
    confidences can be trusted (calibration) and what each --min-confidence threshold would catch."""
    report = {"splits": {}}
    for name, (X, y) in split_data.items():
        proba = model.predict_proba(X)
        pred = proba.argmax(axis=1)
        report["splits"][name] = classification_report(y, pred, proba.shape[1])
        if name == "test":
            order = confident_mistakes(proba, y)[:worst]
            report["mistakes"] = [{"index": int(i), "true": int(y[i]), "predicted": int(pred[i]),
                                   "confidence": float(proba[i, pred[i]]), "p_true": float(proba[i, y[i]])}
                                  for i in order]
            report["calibration"] = calibration.calibration(proba, y)
            report["thresholds"] = calibration.threshold_table(proba, y)
    return report


def confident_mistakes(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the examples read wrong (proba (n, 10), labels y (n,)), most confident answer first."""
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    return wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")]


def look_inside_pictures(model, meta: dict, X_validation=None) -> dict:
    """The report's pictures of the model itself: {file name: PIL image} — its units' weights by
    importance (when its family has units), and the training curves when the model file kept its history."""
    images = {}
    units = model.units()
    if units is not None:
        importance = model.unit_importance(X_validation)
        order = None if importance is None else np.argsort(-importance, kind="stable")
        images["weights.png"] = pictures.weight_figure(units, order)
    training = meta.get("training") or {}
    if len(training.get("history") or []) > 1:
        images["curves.png"] = pictures.training_curves(training["history"], training.get("kept_iteration"))
    return images


def score_other_writers(model, data_dir: str | os.PathLike, layout: Layout | None = None) -> dict:
    """Metrics of `model` on digits by other writers than MNIST's training set (see
    nnmodel.reports.other_writers): {"optdigits": ..., "drawn": ...}. The drawn digits are kept in
    `layout`'s data layers (made on the first call), else redrawn."""
    scores = {}
    X, y = other_writers.optdigits()
    scores["optdigits"] = classification_report(y, model.predict(X), DIGITS)
    if layout is not None:
        X, y = other_writers.drawn_layer(layout, data_dir)
    else:
        X, y = other_writers.drawn(read_test_pixels(data_dir), read_split_uint8(Path(data_dir) / "test.parquet")[1])
    scores["drawn"] = classification_report(y, model.predict(X), DIGITS)
    return scores


def score_labelled(model, folder: str | os.PathLike) -> dict:
    """Metrics of `model` on a folder of labelled images, `<folder>/<digit>/<image>` (e.g. a class's own
    handwriting), through the shared preprocessing, with its folder, every mistake ({path, true,
    predicted, confidence}, most confident first) and the files it could not read."""
    images, labels, paths, problems = load_labelled(folder)
    if not len(labels):
        raise DataError(f"{folder}: no labelled image could be read (expected <digit>/<image> files)"
                        + (f"; {problems[0]}" if problems else ""))
    proba = model.predict_proba(images.reshape(len(images), -1).astype(np.float32) / 255)
    pred = proba.argmax(axis=1)
    report = classification_report(labels, pred, DIGITS)
    report.update({"folder": str(folder), "unreadable": problems,
                   "mistakes": [{"path": str(paths[i]), "true": int(labels[i]), "predicted": int(pred[i]),
                                 "confidence": float(proba[i, pred[i]])} for i in confident_mistakes(proba, labels)]})
    return report


def read_test_pixels(data_dir: str | os.PathLike) -> np.ndarray:
    """The test split's pixels, uint8 (n, 28, 28) (for the mistakes montage)."""
    return read_split_uint8(Path(data_dir) / "test.parquet")[0].reshape(-1, 28, 28)


def evaluate_model(layout: Layout, model_dir: str | os.PathLike, data_dir: str | os.PathLike,
                   report_name: str, labelled: str | os.PathLike | None = None) -> Path:
    """The evaluation step: accuracy, per-class precision/recall/F1, confusion and worst mistakes on
    every split of `data_dir`, other writers' digits (and the `labelled` folder's images, when
    given: see score_labelled), calibration, and pictures of the network itself, written to
    reports/<report_name>/; returns that folder."""
    model, meta = load_model(model_dir)
    splits = read_splits(data_dir)
    X_train, y_train = splits["train"]
    if len(y_train) > TRAIN_SAMPLE:  # the fit on training images, from a fixed sample (a diagnostic)
        rows = np.sort(np.random.default_rng(0).choice(len(y_train), TRAIN_SAMPLE, replace=False))
        splits["train"] = (X_train[rows], y_train[rows])
    report = evaluate(model, splits)
    report["train_sample"] = {"n": int(min(TRAIN_SAMPLE, len(y_train))), "of": len(y_train)}
    report["others"] = score_other_writers(model, data_dir, layout)
    if labelled is not None:
        report["others"]["labelled"] = score_labelled(model, labelled)
    report.update({"model": meta.get("version", str(model_dir)), "data_dir": str(data_dir),
                   "data_manifest": layout.manifest(data_dir)["files"]})
    images = look_inside_pictures(model, meta, splits["validation"][0][:5000])
    units = model.units()
    report["units"] = None if units is None else units.name
    images["reliability.png"] = pictures.reliability_diagram(report["calibration"])
    report["pictures"] = sorted(images)
    folder = layout.report_dir(report_name)
    write_report(folder, report, read_test_pixels(data_dir), f"Evaluation {report_name}", images)
    return folder
