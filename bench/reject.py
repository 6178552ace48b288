"""The reject decision measured: how many images that are not digits the default model marks "not a
digit", and how many real digits it wrongly rejects, against the threshold.

Each seed trains the default preset afresh (bench/train_one.py, its own process; the model learns
its not-a-digit class from negatives made from MNIST *training* digits and the seed). It is then
measured on negatives it never saw: `--per-kind` of each kind (nnmodel.images.negatives), made with
another seed from MNIST *test* digits (one that preprocessing finds blank, as most empty pages are,
counts as rejected: `digits predict` says `blank`, not a digit); and on real digits: MNIST test
(10,000), optdigits (1,797 by 13 other writers) and the drawn digits (1,500). Figures are medians over the seeds.

Run: .venv/bin/python -m bench.reject [--seeds 3] [--per-kind 500] [--keep DIR] [--models DIR ...]
(--keep DIR: keep the trained models as DIR/seed<N>, e.g. for bench/numbers.py --model)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def train(seed: int, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.train_one", "--preset", "default", "--seed", str(seed),
                          "--save", str(folder)], capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print("  " + json.dumps(result), file=sys.stderr, flush=True)
    return result


def measure(model_dir: Path, seed: int, per_kind: int) -> dict:
    """not-a-digit probabilities on unseen negatives (by kind) and on each set of real digits."""
    from bench.train_one import prepared_data
    from nnmodel.data.splits import read_split, read_split_uint8
    from nnmodel.images.negatives import NEGATIVE_KINDS, negatives_by_kind
    from nnmodel.model.modelfile import load_model
    from nnmodel.reports.other_writers import drawn_layer, optdigits
    from nnmodel.store.layout import Layout

    model, _ = load_model(model_dir)
    data = prepared_data()
    test_digits, _ = read_split_uint8(data / "test.parquet")
    images, kinds = negatives_by_kind(per_kind * len(NEGATIVE_KINDS), test_digits.reshape(-1, 28, 28),
                                      seed=10_000 + seed)
    p_neg = model.not_a_digit_proba(images.reshape(-1, 784).astype(np.float32) / 255)
    p_neg[images.reshape(len(images), -1).max(axis=1) == 0] = 1.0  # blank after preprocessing: no digit read
    sets = {"MNIST test": read_split(data / "test.parquet"), "optdigits": optdigits(),
            "drawn": drawn_layer(Layout.locate(), data)}
    return {"negatives": p_neg, "kinds": np.array(kinds),
            **{name: model.not_a_digit_proba(X) for name, (X, _) in sets.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="train and measure seeds 0..N-1")
    parser.add_argument("--per-kind", type=int, default=500, help="unseen negatives of each kind")
    parser.add_argument("--models", nargs="*", help="measure these saved models (seeds 0, 1, ...) instead of training")
    parser.add_argument("--keep", metavar="DIR", help="keep the models trained here as DIR/seed<N>")
    args = parser.parse_args()
    from nnmodel.images.negatives import NEGATIVE_KINDS
    from nnmodel.reject import THRESHOLD

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(args.keep or tmp)
        folders = [Path(m) for m in args.models] if args.models else [home / f"seed{s}" for s in range(args.seeds)]
        for seed, folder in enumerate(folders):
            accuracy = {} if args.models else train(seed, folder)
            runs.append({"seed": seed, "accuracy": accuracy, **measure(folder, seed, args.per_kind)})
    real = ("MNIST test", "optdigits", "drawn")

    def med(values):
        return statistics.median(values)

    print(f"not a digit at the default threshold {THRESHOLD:.0%}: {args.per_kind * len(NEGATIVE_KINDS):,} unseen "
          f"negatives ({args.per_kind} of each kind), medians of {len(runs)} seed(s)\n")
    print("| kind | rejected |\n|---|---|")
    for kind in NEGATIVE_KINDS:
        rates = [float(np.mean(r["negatives"][r["kinds"] == kind] >= THRESHOLD)) for r in runs]
        print(f"| {kind} | {med(rates):.2%} |")
    print(f"| **all negatives** | **{med([float(np.mean(r['negatives'] >= THRESHOLD)) for r in runs]):.2%}** |")
    for name in real:
        print(f"| real digits falsely rejected: {name} | "
              f"{med([float(np.mean(r[name] >= THRESHOLD)) for r in runs]):.2%} |")
    if runs[0]["accuracy"]:
        print("\naccuracy of the same models (median): " + ", ".join(
            f"{k} {med([r['accuracy'][k] for r in runs]):.2%}" for k in ("test", "optdigits", "drawn")))
    print("\nagainst the threshold (medians over the seeds)\n")
    print("| threshold | negatives rejected | " + " | ".join(f"{n} falsely rejected" for n in real) + " |")
    print("|---" * (2 + len(real)) + "|")
    for t in THRESHOLDS:
        cells = [med([float(np.mean(r["negatives"] >= t)) for r in runs])] + \
                [med([float(np.mean(r[n] >= t)) for r in runs]) for n in real]
        print(f"| {t:.2f} | " + " | ".join(f"{c:.2%}" for c in cells) + " |")


if __name__ == "__main__":
    main()
