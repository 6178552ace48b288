"""One training run in a fresh process, printed as a JSON line: seconds (the distortion layer and the
fit apart), iterations, accuracies on MNIST and on other writers' digits (optdigits, pen-drawn; ours
only), and peak memory (ru_maxrss). It takes the pipeline's own steps: the distortion layer (cached
under artifacts/ after its first run) and the fit. Used by bench/training.py; run alone for one
measurement:

  .venv/bin/python -m bench.train_one --impl ours --preset default --seed 0
  .venv/bin/python -m bench.train_one --impl yardstick --seed 0
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from nnmodel.data import raw, splits
from nnmodel.store.layout import Layout


def prepared_data() -> Path:
    """The default splits (bundled MNIST, 5,000 validation, seed 0), prepared once under artifacts/."""
    layout = Layout.locate()
    quiet = lambda message: None  # noqa: E731
    return splits.prepare_data(layout, raw.fetch_raw(layout, log=quiet), log=quiet)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["ours", "yardstick"], default="ours")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--maxiter", type=int)
    parser.add_argument("--dense", action="store_true", help="ours: dense input products (no sparse path)")
    parser.add_argument("--save", metavar="DIR", help="ours: also save the fitted model (a model folder) here")
    args = parser.parse_args()
    data = prepared_data()
    X, y = splits.read_split(data / "train.parquet")
    Xv, yv = splits.read_split(data / "validation.parquet")
    Xt, yt = splits.read_split(data / "test.parquet")
    if args.impl == "yardstick":
        from bench import plain_reference

        maxiter = args.maxiter or 70
        started = time.perf_counter()
        Theta1, Theta2 = plain_reference.train(X, y, maxiter=maxiter, seed=args.seed)
        seconds = time.perf_counter() - started

        def accuracy(A, b):
            return float((plain_reference.predict(Theta1, Theta2, A.astype("float64")) == b).mean())

        iterations, examples = maxiter, len(X)
        others, distort_seconds = {}, 0.0
    else:
        from nnmodel.data.distorted import distort_for_recipe
        from nnmodel.data.shards import local_shards
        from nnmodel.model.families import new_model
        from nnmodel.model.presets import recipe
        from nnmodel.reports.evaluate import score_other_writers

        overrides = {"seed": args.seed, "max_iter": args.maxiter}
        chosen = recipe(args.preset, **overrides)
        started = time.perf_counter()
        layer = distort_for_recipe(Layout.locate(), data, args.preset, overrides, log=lambda m: None)
        distort_seconds = time.perf_counter() - started
        started = time.perf_counter()
        net = new_model(chosen["family"], {**chosen["params"], **({"sparse": False} if args.dense else {})})
        net.fit_shards(local_shards([data / "train.parquet", *([layer / "train.parquet"] if layer else [])]))
        seconds = time.perf_counter() - started
        accuracy = net.score
        iterations, examples = net.n_iter_, net.n_examples_
        others = {name: r.get("accuracy") for name, r in score_other_writers(net, data).items()}
        if args.save:
            from nnmodel.model import modelfile

            modelfile.save_model(net, args.save, {"recipe": chosen})
    preset = (args.preset + (" (dense inputs)" if args.dense else "")) if args.impl == "ours" else "plain float64"
    print(json.dumps({"impl": args.impl, "preset": preset,
                      "seed": args.seed, "seconds": round(seconds, 2), "distort_seconds": round(distort_seconds, 2),
                      "iterations": iterations, "examples": examples, "test": accuracy(Xt, yt),
                      "validation": accuracy(Xv, yv), "train": accuracy(X, y), **others,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
