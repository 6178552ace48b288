"""The model families, side by side: a family's name (as model files and presets record it) -> its
class, imported only when asked for. Adding a family is one module in this package and one line here."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the table itself stays light to import (the command line lists it)
    from nnmodel.model.base import Model

FAMILIES = {
    "mlp": "nnmodel.model.mlp:MLP",
    "logistic": "nnmodel.model.logistic:Logistic",
    "conv": "nnmodel.model.conv:ConvFeatures",
}


def family_class(family: str) -> type[Model]:
    """The class of `family`; ValueError names an unknown one."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def new_model(family: str, params: dict | None = None) -> Model:
    """A model of `family` with the given hyperparameters (the family's defaults for the others), checked."""
    cls = family_class(family)
    params = cls.check_params({**cls.defaults(), **(params or {})})
    return cls(**params)
