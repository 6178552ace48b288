"""Using a trained model from Python: load it, read images.

    from nnmodel.api import load

    model = load()                          # the current model of ./artifacts (or $DIGITS_HOME)
    reading = model.read("scan.png")        # a file, bytes, a PIL image or a grey array
    print(reading.digit, f"{reading.confidence:.1%}", reading.probabilities.round(3))
    print(model.read_number("form.png").text)

Images go through the same preprocessing as `digits predict` and the viewer (any size, colour or
polarity; put into the 28x28 MNIST form). An image that cannot be read raises DataError naming it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnmodel.errors import DataError
from nnmodel.images.numbers import NumberRead, read_number
from nnmodel.images.preprocess import preprocess_files, preprocess_image
from nnmodel.model.base import Model
from nnmodel.model.modelfile import load_model
from nnmodel.reject import THRESHOLD, read_digits
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry


@dataclass
class Reading:
    """What a model read in one image: `digit` (None when the image is blank or not a digit),
    `confidence` (its probability; 0.0 when blank), `probabilities` (10,) float32 (zeros when blank;
    for an image that is not a digit, which digits it is most like), `blank`, `not_a_digit` (the
    model's reject decision, nnmodel.reject) and `not_a_digit_probability` (None when the
    model has no such class)."""

    digit: int | None
    confidence: float
    probabilities: np.ndarray
    blank: bool = False
    not_a_digit: bool = False
    not_a_digit_probability: float | None = None


class DigitReader:
    """A trained model ready to read images; `model` is the model itself (any family), `version` its
    registry version (None for a folder given by path)."""

    def __init__(self, model: Model, version: str | None = None, reject_threshold: float = THRESHOLD):
        self.model, self.version, self.reject_threshold = model, version, reject_threshold

    def __repr__(self) -> str:
        return f"DigitReader({self.version or 'a model folder'}: {self.model.describe()})"

    def read(self, image) -> Reading:
        """One digit: a file path, bytes, a PIL image or a grey array (any size; uint8 0-255 or float 0-1)."""
        pre = preprocess_image(image)
        if pre.blank:
            return Reading(None, 0.0, np.zeros(10, np.float32), blank=True)
        return self.readings(pre.pixels.reshape(1, 784))[0]

    def read_many(self, images) -> list[Reading]:
        """Many digits in one batch. `images`: file paths (read and preprocessed like `read`), or an
        array (n, 28, 28) or (n, 784) already in MNIST form (values in [0, 1], or uint8 0-255)."""
        if isinstance(images, np.ndarray):
            X = images.reshape(len(images), 784)
            X = X.astype(np.float32) / 255 if X.dtype == np.uint8 else X.astype(np.float32)
            return self.readings(X)
        results = preprocess_files([os.fspath(i) for i in images])
        for result in results:
            if isinstance(result, DataError):
                raise result
        readable = [i for i, r in enumerate(results) if not r.blank]
        found = self.readings(np.stack([results[i].pixels.reshape(784) for i in readable])) if readable else []
        readings = [Reading(None, 0.0, np.zeros(10, np.float32), blank=True) for _ in results]
        for i, reading in zip(readable, found):
            readings[i] = reading
        return readings

    def read_number(self, image) -> NumberRead:
        """A number written on one line: `.text` (digits left to right, leading zeros kept),
        `.confidence` (the lowest digit's), `.digits` (each with its digit, confidence and box)."""
        return read_number(image, self.model, self.reject_threshold)

    def readings(self, X: np.ndarray) -> list[Reading]:
        """Readings of MNIST-form images X (n, 784), with the reject decision."""
        both = read_digits(self.model, X, self.reject_threshold)
        out = []
        for proba, p_not, rejected in zip(both.proba, both.not_a_digit.tolist(), both.rejected.tolist()):
            digit = int(proba.argmax())
            out.append(Reading(None if rejected else digit, float(proba[digit]), np.asarray(proba, np.float32),
                               not_a_digit=rejected, not_a_digit_probability=None if np.isnan(p_not) else p_not))
        return out


def load(version: str = "current", artifacts: str | os.PathLike | None = None) -> DigitReader:
    """The model `version` of an artifacts folder ("current": the current one; a version name as
    `digits models list` shows it; or a model folder's path). `artifacts`: default $DIGITS_HOME, else
    ./artifacts. SetupError or ModelFileError (one line) when there is no such model."""
    if version != "current" and (Path(version) / "model.json").is_file():
        model, meta = load_model(version)
        return DigitReader(model, meta.get("version"))
    folder = Registry(Layout.locate(artifacts)).resolve(None if version == "current" else version)
    model, _ = load_model(folder)
    return DigitReader(model, folder.name)
