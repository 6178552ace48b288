"""Training presets: each names a model family, its hyperparameters, and the distorted copies of the
training images the data layer makes for it (what `digits train --preset` picks).

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

A recipe (`recipe()`) is a preset with the options' overrides applied: {"preset", "family", "params"
(every hyperparameter of the family, checked), "copies", "distortions", "seed"}. The seed seeds both
the model's initial weights and the distorted copies.
"""
from __future__ import annotations

# nnmodel.images.distort.KINDS, repeated here so that listing the presets and options stays light
KINDS = ("shift", "affine", "elastic", "stroke", "blur", "style")
IN_ANOTHER_HAND = ("style", "affine", "stroke", "blur")

PRESETS: dict[str, dict] = {
    "default": {"family": "mlp", "copies": 1, "distortions": IN_ANOTHER_HAND,
                "params": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "softmax", "lam": 1.0,
                           "max_iter": 120, "memory": 50, "init_scale": 0.12}},
    "original": {"family": "mlp", "copies": 0, "distortions": (),
                 "params": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "sigmoid", "lam": 0.1,
                            "max_iter": 70, "memory": 10, "init_scale": 0.12}},
    "best": {"family": "mlp", "copies": 1, "distortions": IN_ANOTHER_HAND,
             "params": {"hidden_sizes": (400,), "activation": "sigmoid", "output": "softmax", "lam": 1.0,
                        "max_iter": 450, "memory": 50, "init_scale": 0.05}},
    "quick": {"family": "mlp", "copies": 0, "distortions": (),
              "params": {"hidden_sizes": (32,), "activation": "sigmoid", "output": "softmax", "lam": 0.1,
                         "max_iter": 15, "memory": 10, "init_scale": 0.05}},
}

# What each preset measured, from BENCHMARKS.md (`bench/training.py accuracy`, `best`, `command`).
MEASURED = {
    "default": "97.92% MNIST test, 89.76% optdigits, 95.80% drawn (median of 3 seeds); "
               "the whole `digits train` in 75 s",
    "original": "97.03% MNIST test, 77.13% optdigits, 95.27% drawn (median of 3 seeds), ~15 s of training",
    "best": "98.67% MNIST test, 91.71% optdigits, 96.53% drawn (seed 0), ~12 min of training",
    "quick": "a smoke test (784-32-10, 15 iterations): seconds of training, not a model to use",
}

RECIPE_KEYS = ("copies", "distortions", "seed")   # overrides that belong to the recipe, not (only) the model


def recipe(preset: str = "default", family: str | None = None, **overrides) -> dict:
    """The recipe of `preset` (or, given `family`, of that family's own defaults with no copies), with
    the non-None `overrides` applied: copies, distortions and seed to the recipe, the rest to the
    model's hyperparameters. ValueError names an unknown preset or family, a hyperparameter the
    family lacks, or a bad value."""
    from nnmodel.images.distort import check_kinds  # here, so listing the presets stays light
    from nnmodel.model.families import family_class

    if family is None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        chosen = PRESETS[preset]
    else:
        chosen = {"family": family, "copies": 0, "distortions": (), "params": {}}
    cls = family_class(chosen["family"])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    params = {**cls.defaults(), **chosen["params"]}
    for name, value in overrides.items():
        if name in RECIPE_KEYS and (name != "seed" or "seed" not in params):
            continue
        if name not in params:
            raise ValueError(f"the {chosen['family']} family has no parameter {name!r}")
        params[name] = value
    cls.check_params(params)
    copies = overrides.get("copies", chosen["copies"])
    if isinstance(copies, bool) or not isinstance(copies, int) or not 0 <= copies <= 100:
        raise ValueError(f"copies must be a whole number 0..100, not {copies!r}")
    distortions = overrides.get("distortions", chosen["distortions"])
    if not isinstance(distortions, (list, tuple)):
        raise ValueError(f"distortions must be a list of names, not {distortions!r}")
    seed = overrides.get("seed", params.get("seed", 0))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, not {seed!r}")
    return {"preset": None if family else preset, "family": chosen["family"], "params": params, "copies": copies,
            "distortions": list(check_kinds(distortions)), "seed": seed}


def describe_preset(name: str) -> str:
    """One line: the preset's model, iterations and copies (for --list-presets)."""
    from nnmodel.model.families import new_model

    chosen = PRESETS[name]
    model = new_model(chosen["family"], chosen["params"])
    params = model.get_params()
    lam = f", lambda {params['lam']:g}" if "lam" in params else ""
    return (f"{model.describe()}; {params.get('max_iter')} iterations{lam}, {chosen['copies']} distorted copies "
            f"({', '.join(chosen['distortions']) or 'none'})")
