"""Training presets: each is a dict of `Network` hyperparameters (what `digits train --preset` picks).

  default   what a new user gets: the original's 784-100-10 (Theta files the original `predict`
            reads), trained on each image plus one copy in another hand (writing styles, slant,
            size, stroke width, blur) for 120 iterations: the best balance found of reading other
            people's digits and `digits train` finishing within two minutes on two cores
  original  the original project's recipe: per-class sigmoid output, lambda 0.1, 70 iterations, no copies
  best      the strongest model L-BFGS-B trains here in about 20 minutes: 784-400-10 on each image
            plus one copy in another hand, 450 iterations (it beat a 784-300-10 on two copies,
            elastic ones too, on every measure and in two thirds of the time)
  quick     a small smoke-test model
Measured figures (BENCHMARKS.md, `bench/training.py`) are in MEASURED, shown by `--list-presets`.
"""
from __future__ import annotations

# nnmodel.images.distort.KINDS, repeated here so that listing the presets and options stays light
KINDS = ("shift", "affine", "elastic", "stroke", "blur", "style")

PRESETS: dict[str, dict] = {
    "default": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "softmax", "lam": 1.0,
                "max_iter": 120, "memory": 50, "copies": 1, "distortions": ("style", "affine", "stroke", "blur"),
                "init_scale": 0.12},
    "original": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "sigmoid", "lam": 0.1,
                 "max_iter": 70, "memory": 10, "copies": 0, "distortions": (), "init_scale": 0.12},
    "best": {"hidden_sizes": (400,), "activation": "sigmoid", "output": "softmax", "lam": 1.0,
             "max_iter": 450, "memory": 50, "copies": 1, "distortions": ("style", "affine", "stroke", "blur"),
             "init_scale": 0.05},
    "quick": {"hidden_sizes": (32,), "activation": "sigmoid", "output": "softmax", "lam": 0.1,
              "max_iter": 15, "memory": 10, "copies": 0, "distortions": (), "init_scale": 0.05},
}

# What each preset measured, from BENCHMARKS.md (`bench/training.py accuracy`, `best`, `command`).
MEASURED = {
    "default": "97.92% MNIST test, 89.76% optdigits, 95.80% drawn (median of 3 seeds); "
               "the whole `digits train` in 75 s",
    "original": "97.03% MNIST test, 77.13% optdigits, 95.27% drawn (median of 3 seeds), ~15 s of training",
    "best": "98.67% MNIST test, 91.71% optdigits, 96.53% drawn (seed 0), ~12 min of training",
    "quick": "a smoke test (784-32-10, 15 iterations): seconds of training, not a model to use",
}


def network_params(preset: str = "default", **overrides) -> dict:
    """Every `Network` hyperparameter: the estimator's defaults, then the preset's, then the
    non-None `overrides`; ValueError names an unknown preset or a bad value."""
    from nnmodel.model.mlp import Network, check_params  # here, so listing the presets stays light

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    params = {**Network().get_params(), **PRESETS[preset]}
    params.update({k: v for k, v in overrides.items() if v is not None})
    return check_params(params)
