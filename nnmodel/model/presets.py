"""Training presets: each names a model family, its hyperparameters, and the distorted copies of the
training images the data layer makes for it (what `digits train --preset` picks).

  default   what a new user gets: convolutional features (PCA filters in two stages, learned without
            gradients) and a ReLU head fitted by L-BFGS-B, reading each image and 4 shifted copies;
            trained on each image plus three copies in other hands (a low-resolution scan; another
            writing style, slant, size, stroke width or blur; drawn with a mouse) and 12,000 generated
            images that are not digits (its 11th output, "not a digit"): the best balance found of
            reading other people's digits and `digits train` finishing in about two minutes
  best      the strongest recipe trained here within 20 minutes: the same features, a committee of
            two heads of 200 units, eight copies in other hands, 24,000 images that are not digits
  mlp       the earlier default: the original's 784-100-10 (Theta files the original `predict` reads),
            trained on each image plus one copy in another hand, 120 iterations
  original  the original project's recipe: per-class sigmoid output, lambda 0.1, 70 iterations, no copies
  quick     a small smoke-test model
Measured figures (BENCHMARKS.md, `bench/training.py`) are in MEASURED, shown by `--list-presets`.

A recipe (`recipe()`) is a preset with the options' overrides applied: {"preset", "family", "params"
(every hyperparameter of the family, checked), "copies" (one list of kinds per distorted copy: the
deformations of nnmodel.images.distort combined, and hands of nnmodel.images.hands, each image of the
copy redrawn in one of them), "seed", "negatives" (how many images that are not digits, of
nnmodel.images.negatives, the data layer adds: the model's not-a-digit class learns from them)}.
The seed seeds both the model's initial weights and the copies.
"""
from __future__ import annotations

# nnmodel.images.distort.KINDS and nnmodel.images.hands.HANDS, repeated here so that listing the
# presets and options stays light (a test checks they agree)
KINDS = ("shift", "affine", "elastic", "stroke", "blur", "style")
HANDS = ("lowres", "mouse", "pen", "slant", "aspect")
IN_ANOTHER_HAND = ["style", "affine", "stroke", "blur"]
CONV = {"filters": 8, "filter_size": 5, "pool": 2, "stage2_filters": 16, "stage2_size": 3, "stage2_pool": 2,
        "test_shifts": 4}
NEGATIVES = 12_000  # generated images that are not digits (nnmodel.images.negatives): the 11th class

PRESETS: dict[str, dict] = {
    "default": {"family": "conv", "copies": [["lowres"], IN_ANOTHER_HAND, ["mouse"]], "negatives": NEGATIVES,
                "params": {**CONV, "hidden_sizes": (100,), "lam": 1.0, "max_iter": 40, "warmup": ((0.25, 50),),
                           "heads": 1, "not_a_digit": True}},
    "best": {"family": "conv",
             "copies": [["lowres"], ["lowres"], IN_ANOTHER_HAND, IN_ANOTHER_HAND, ["mouse"], ["mouse"],
                        ["affine", "elastic"], ["aspect", "slant", "pen"]], "negatives": 2 * NEGATIVES,
             "params": {**CONV, "hidden_sizes": (200,), "lam": 1.0, "max_iter": 45,
                        "warmup": ((0.2, 80), (0.5, 30)), "heads": 2, "not_a_digit": True}},
    "mlp": {"family": "mlp", "copies": [IN_ANOTHER_HAND],
            "params": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "softmax", "lam": 1.0,
                       "max_iter": 120, "memory": 50, "init_scale": 0.12}},
    "original": {"family": "mlp", "copies": [],
                 "params": {"hidden_sizes": (100,), "activation": "sigmoid", "output": "sigmoid", "lam": 0.1,
                            "max_iter": 70, "memory": 10, "init_scale": 0.12}},
    "quick": {"family": "mlp", "copies": [],
              "params": {"hidden_sizes": (32,), "activation": "sigmoid", "output": "softmax", "lam": 0.1,
                         "max_iter": 15, "memory": 10, "init_scale": 0.05}},
}

# What each preset measured, from BENCHMARKS.md (`bench/training.py accuracy`, `best`, `command`).
MEASURED = {
    "default": "99.32% MNIST test, 94.71% optdigits, 98.40% drawn (median of 3 seeds); not a digit: 92.6% "
               "of unseen negatives, 0.55% of MNIST test digits turned away; the whole `digits train` in 117 s",
    "best": "not measured with this recipe yet (a committee of two heads: expect most of 20 minutes)",
    "mlp": "97.92% MNIST test, 89.76% optdigits, 95.80% drawn (median of 3 seeds, when it was the "
           "default); the whole `digits train --preset mlp` in 75 s",
    "original": "97.03% MNIST test, 77.13% optdigits, 95.27% drawn (median of 3 seeds), ~15 s of training",
    "quick": "a smoke test (784-32-10, 15 iterations): seconds of training, not a model to use",
}

RECIPE_KEYS = ("copies", "distortions", "seed", "negatives")  # overrides of the recipe, not (only) the model


def recipe(preset: str = "default", family: str | None = None, **overrides) -> dict:
    """The recipe of `preset` (or, given `family`, of that family's own defaults with no copies), with
    the non-None `overrides` applied: `copies` (how many; they take the preset's kinds in turn),
    `distortions` (every copy's kinds) and `seed` to the recipe, the rest to the model's
    hyperparameters. ValueError names an unknown preset or family, a hyperparameter the family lacks,
    or a bad value."""
    from nnmodel.images.distort import check_kinds  # here, so listing the presets stays light
    from nnmodel.model.families import family_class

    if family is None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        chosen = PRESETS[preset]
    else:
        chosen = {"family": family, "copies": [], "params": {}}
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
    copies = [list(spec) for spec in chosen["copies"]]
    count = overrides.get("copies", len(copies))
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100:
        raise ValueError(f"copies must be a whole number 0..100, not {count!r}")
    if "distortions" in overrides:
        kinds = overrides["distortions"]
        if not isinstance(kinds, (list, tuple)):
            raise ValueError(f"distortions must be a list of names, not {kinds!r}")
        copies = [list(kinds)] * (count if "copies" in overrides else max(len(copies), 1))
    elif count != len(copies):
        kinds = copies or [IN_ANOTHER_HAND]
        copies = [list(kinds[i % len(kinds)]) for i in range(count)]
    for spec in copies:
        check_kinds(spec, hands_too=True)
    copies = [spec for spec in copies if spec]
    seed = overrides.get("seed", params.get("seed", 0))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, not {seed!r}")
    negatives = overrides.get("negatives", chosen.get("negatives", 0))
    if isinstance(negatives, bool) or not isinstance(negatives, int) or not 0 <= negatives <= 1_000_000:
        raise ValueError(f"negatives must be a whole number 0..1000000, not {negatives!r}")
    if "not_a_digit" in params:
        params["not_a_digit"] = negatives > 0  # the class is learned from the negatives, and only from them
        cls.check_params(params)
    elif negatives:
        raise ValueError(f"the {chosen['family']} family has no not-a-digit class: negatives must be 0")
    return {"preset": None if family else preset, "family": chosen["family"], "params": params, "copies": copies,
            "seed": seed, "negatives": negatives}


def describe_copies(copies: list[list[str]]) -> str:
    """'3 copies: lowres; style+affine+stroke+blur; mouse' (or 'no copies')."""
    if not copies:
        return "no distorted copies"
    return f"{len(copies)} distorted cop{'y' if len(copies) == 1 else 'ies'}: " + "; ".join(
        "+".join(spec) if all(k in KINDS for k in spec) else " or ".join(spec) if all(k in HANDS for k in spec)
        else "+".join(spec) for spec in copies)


def describe_preset(name: str) -> str:
    """One line: the preset's model, iterations and copies (for --list-presets)."""
    from nnmodel.model.families import new_model

    chosen = PRESETS[name]
    model = new_model(chosen["family"], chosen["params"])
    params = model.get_params()
    lam = f", lambda {params['lam']:g}" if "lam" in params else ""
    warmup = sum(n for _, n in params.get("warmup") or ())
    iterations = f"{warmup} + {params.get('max_iter')}" if warmup else f"{params.get('max_iter')}"
    negatives = f"; {chosen['negatives']:,} images that are not digits" if chosen.get("negatives") else ""
    return f"{model.describe()}; {iterations} iterations{lam}; {describe_copies(chosen['copies'])}{negatives}"
