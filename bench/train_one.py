"""One training run in a fresh process, printed as a JSON line: seconds, iterations, accuracies and
peak memory (ru_maxrss). Used by bench/training.py; run alone for a single measurement:

  .venv/bin/python bench/train_one.py --impl ours --preset default --seed 0
  .venv/bin/python bench/train_one.py --impl yardstick --seed 0
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.runtime import artifacts_root  # noqa: E402
from tasks import sources, splits  # noqa: E402


def prepared_data() -> Path:
    """The default splits (bundled MNIST, 5,000 validation, seed 0), prepared once under artifacts/."""
    root = artifacts_root()
    raw = sources.read_bundled()
    record = sources.verify(raw, "mnist", "bundled")
    folder, _ = splits.prepare_splits(raw, record, root)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["ours", "yardstick"], default="ours")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--maxiter", type=int)
    parser.add_argument("--dense", action="store_true", help="ours: dense input products (no sparse path)")
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
    else:
        from nnmodel.network import Network
        from nnmodel.train import jittered_copies
        from tasks.training import recipe_for

        recipe = recipe_for(args.preset, seed=args.seed, maxiter=args.maxiter)
        started = time.perf_counter()
        X_fit, y_fit = jittered_copies(X, y, recipe["jitter_copies"], seed=args.seed)
        net = Network(hidden_sizes=recipe["hidden_sizes"], hidden=recipe["hidden"], output=recipe["output"],
                      lam=recipe["lam"], seed=args.seed, init_scale=recipe["init_scale"])
        net.fit(X_fit, y_fit, maxiter=recipe["maxiter"], memory=recipe["memory"], sparse=False if args.dense else None)
        seconds = time.perf_counter() - started
        accuracy = net.score
        iterations, examples = net.n_iter_, len(X_fit)
    preset = (args.preset + (" (dense inputs)" if args.dense else "")) if args.impl == "ours" else "plain float64"
    print(json.dumps({"impl": args.impl, "preset": preset,
                      "seed": args.seed, "seconds": round(seconds, 2), "iterations": iterations,
                      "examples": examples, "test": accuracy(Xt, yt), "validation": accuracy(Xv, yv),
                      "train": accuracy(X, y),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
