"""Compatibility with the original project: Theta1.txt / Theta2.txt and its predict(Theta1, Theta2, X).

Theta1 is (hidden, 785) and Theta2 is (10, hidden + 1), bias column first, as np.savetxt writes them.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from scipy.special import expit

from nnmodel import atomic
from nnmodel.errors import ModelFileError
from nnmodel.model.base import Model
from nnmodel.model.mlp import MLP


def predict(Theta1: np.ndarray, Theta2: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The original function: digits (m,) for X (m, 784) in [0, 1]. Same answers, no overflow warnings."""
    X = np.asarray(X, dtype=np.float64).reshape(-1, Theta1.shape[1] - 1)
    a2 = expit(X @ Theta1[:, 1:].T + Theta1[:, 0])
    a3 = expit(a2 @ Theta2[:, 1:].T + Theta2[:, 0])
    return np.argmax(a3, axis=1)


def to_thetas(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(Theta1, Theta2) of a model whose family has that shape (an MLP with one sigmoid hidden layer).

    For a softmax output the predictions are unchanged (sigmoid and softmax rank logits alike).
    """
    thetas = model.thetas()
    if thetas is None:
        raise ModelFileError(f"{model.describe()}: only one sigmoid hidden layer fits the original Theta1/Theta2 "
                             "layout")
    return thetas


def from_thetas(Theta1: np.ndarray, Theta2: np.ndarray) -> MLP:
    """An MLP (sigmoid hidden and output, as in the original) holding the given Thetas."""
    if Theta1.ndim != 2 or Theta2.ndim != 2 or Theta2.shape[1] != Theta1.shape[0] + 1:
        raise ModelFileError(f"Theta shapes {Theta1.shape} and {Theta2.shape} do not chain (need (h, n+1), (k, h+1))")
    net = MLP(hidden_sizes=(Theta1.shape[0],), activation="sigmoid", output="sigmoid",
                  n_inputs=Theta1.shape[1] - 1, n_classes=Theta2.shape[0], dtype="float64")
    net.params_ = [(Theta1[:, 1:].copy(), Theta1[:, 0].copy()), (Theta2[:, 1:].copy(), Theta2[:, 0].copy())]
    return net


def save_thetas(model: Model, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write Theta1.txt and Theta2.txt (np.savetxt text, as the original) atomically."""
    folder = Path(folder)
    paths = []
    for name, theta in zip(("Theta1.txt", "Theta2.txt"), to_thetas(model)):
        with atomic.atomic_path(folder / name) as tmp:
            np.savetxt(tmp, theta)
        paths.append(folder / name)
    return tuple(paths)


def load_thetas(folder: str | os.PathLike, n_inputs: int = 784, n_classes: int = 10) -> MLP:
    """Read Theta1.txt / Theta2.txt from `folder` into an MLP; ModelFileError names a bad file."""
    folder = Path(folder)
    thetas = []
    for name in ("Theta1.txt", "Theta2.txt"):
        path = folder / name
        if path.is_dir():
            raise ModelFileError(f"{path}: is a folder, not the original project's {name}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty file: said below, in one line
                theta = np.loadtxt(path, ndmin=2)
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such file (expected the original project's {name})") from None
        except UnicodeDecodeError:
            raise ModelFileError(f"{path}: not a numeric text matrix (not text)") from None
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ModelFileError(f"{path}: not a numeric text matrix ({str(exc).splitlines()[0]})") from None
        if theta.size == 0:
            raise ModelFileError(f"{path}: is empty (expected the original project's {name})")
        if not np.all(np.isfinite(theta)):
            raise ModelFileError(f"{path}: holds non-finite values")
        thetas.append(theta)
    Theta1, Theta2 = thetas
    if Theta1.shape[1] != n_inputs + 1:
        raise ModelFileError(f"{folder / 'Theta1.txt'}: shape {Theta1.shape}, expected (hidden, {n_inputs + 1})")
    if Theta2.shape != (n_classes, Theta1.shape[0] + 1):
        raise ModelFileError(f"{folder / 'Theta2.txt'}: shape {Theta2.shape}, "
                             f"expected ({n_classes}, {Theta1.shape[0] + 1})")
    return from_thetas(Theta1, Theta2)
