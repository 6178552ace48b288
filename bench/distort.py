"""Distortion layer throughput: distorted copies per second of the 55,000 training images, on all
cores (the way the pipeline makes them) and on one, for each kind and for the presets' mix; and
whether a second run with the same seed gives the same bytes.

Run: .venv/bin/python -m bench.distort [--rounds 5] [--count 55000]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import time

from nnmodel.data.readers import read_bundled
from nnmodel.images import distort
from nnmodel.model.presets import IN_ANOTHER_HAND

MIXES = [("affine",), ("elastic",), ("stroke",), ("blur",), ("style",),
         tuple(IN_ANOTHER_HAND),  # the mlp preset's copy, one of the default's
         ("style", "affine", "elastic", "stroke", "blur")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=55000)
    args = parser.parse_args()
    raw = read_bundled()
    images, labels = raw.train_images[: args.count], raw.train_labels[: args.count]
    cores = os.cpu_count() or 1
    runs = [(kinds, threads) for kinds in MIXES for threads in sorted({1, cores})]
    times: dict[tuple, list[float]] = {run: [] for run in runs}
    digests: dict[tuple, set[str]] = {run: set() for run in runs}
    for _ in range(args.rounds):  # interleaved: every mix and thread count once per round
        for kinds, threads in runs:
            started = time.perf_counter()
            copies = distort.distorted_copies(images, 1, kinds, seed=0, threads=threads, labels=labels)
            times[(kinds, threads)].append(time.perf_counter() - started)
            digests[(kinds, threads)].add(hashlib.sha256(copies.tobytes()).hexdigest())
    print(f"{len(images):,} MNIST training images, one distorted copy each, median of {args.rounds} rounds")
    print("| kinds | threads | copies/s | us per copy per core | same bytes every round and thread count |")
    print("|---|---|---|---|---|")
    for kinds, threads in runs:
        seconds = statistics.median(times[(kinds, threads)])
        same = len(digests[(kinds, threads)] | digests[(kinds, 1)]) == 1
        print(f"| {', '.join(kinds)} | {threads} | {len(images) / seconds:,.0f} | "
              f"{seconds / len(images) * threads * 1e6:.1f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
