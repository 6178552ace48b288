"""Which model the viewer uses: the registry's current one, a named version, or Theta1/Theta2.txt."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nnmodel.errors import DigitsError
from nnmodel.model.base import Model
from nnmodel.model.modelfile import load_model
from nnmodel.model.original import load_thetas
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry


@dataclass
class ViewerModel:
    """A loaded model (any family) and one line that describes it (shown in the window)."""

    network: Model
    description: str


def load_viewer_model(artifacts: Layout | str | os.PathLike, version: str | None = None,
                      theta_dir: str | os.PathLike | None = None) -> ViewerModel:
    """Load the model to draw against. DigitsError (one line, says what to do) when there is none."""
    if theta_dir is not None:
        network = load_thetas(theta_dir)
        return ViewerModel(network, f"original project's Theta1.txt/Theta2.txt from {Path(theta_dir)}")
    folder = Registry(artifacts).resolve(version)
    network, meta = load_model(folder)
    test = meta.get("metrics", {}).get("test", {}).get("accuracy")
    score = f", test accuracy {test:.2%}" if test is not None else ""
    return ViewerModel(network, f"model {folder.name} ({network.describe()}{score})")


def missing_model_help(error: DigitsError, artifacts: str | os.PathLike) -> str:
    """What the window shows instead of predictions when no model could be loaded."""
    return (f"No model to recognise with:\n{error}\n\n"
            f"Train one (about a minute) with\n    digits --artifacts {artifacts} train\n"
            "then reopen this window, or open the original project's weights with\n"
            "    digits gui --theta DIR")
