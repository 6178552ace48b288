"""Reading whole numbers: accuracy and speed of nnmodel.images.numbers.read_numbers on generated images.

--count images of 1- to 6-digit numbers built from MNIST test digits (tests/helpers/number_images.py:
uneven grey paper, JPEG and PNG, heights +-15%, baseline jitter, gaps from wide to touching, specks),
written as files and read with read_numbers; then the same count again with a stray mark that is no
digit (a dash, a cross, a tangle, a tick or a blot) beside a third of them. Read with the current
registered model, or --model DIR (with neither, a 784-100-10 model is trained first, and the output
says so).

Accuracy: numbers read exactly; digits right by position (a number read with the wrong count of
digits counts all its digits wrong); and 1 - the digit error rate (edit distance / digits), which
credits the digits around a missed or extra one; overall and per number length.

Speed, measured in the same run and interleaved over --rounds (median, wall clock and CPU time):
read_numbers on the number files against the yardstick, nnmodel.batch.classify_files on single-digit
MNIST PNG files (batch prediction); the ratio is read time per digit over classify time per file.

Run: .venv/bin/python -m bench.numbers [--count 1000] [--rounds 3] [--model DIR] [--seed 0]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.make_png_folder import write_pngs
from nnmodel.batch.classify import classify_files
from nnmodel.errors import DataError, SetupError
from nnmodel.images.numbers import read_numbers
from nnmodel.model.modelfile import load_model
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry
from tests.helpers.number_images import random_numbers, write_numbers


def model_folder(explicit: str | None, tmp: Path) -> tuple[Path, str]:
    """The model to read with, and where it came from."""
    if explicit:
        return Path(explicit), f"--model {explicit}"
    try:
        return Registry(Layout.locate()).resolve(), "the current registered model"
    except SetupError:
        from nnmodel.data.readers import read_bundled
        from nnmodel.model.mlp import MLP
        from nnmodel.model.modelfile import save_model

        raw = read_bundled()
        X = raw.train_images.reshape(-1, 784) / np.float32(255)
        net = MLP(hidden_sizes=(100,), max_iter=70).fit(X, raw.train_labels)
        return save_model(net, tmp / "model"), "no registered model: trained 784-100-10 (70 iterations) for this run"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning a into b."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def score(truths: list[str], reads: list[str]) -> dict:
    """exact (share of numbers), by_position and one_minus_error (shares of digits), digits."""
    digits = sum(len(t) for t in truths)
    by_position = sum(sum(a == b for a, b in zip(t, r)) for t, r in zip(truths, reads) if len(t) == len(r))
    errors = sum(edit_distance(t, r) for t, r in zip(truths, reads))
    return {"numbers": len(truths), "digits": digits, "exact": np.mean([t == r for t, r in zip(truths, reads)]),
            "by_position": by_position / digits, "one_minus_error": 1 - errors / digits}


def timed(work) -> tuple[float, float]:
    """(wall, CPU) seconds of work()."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a model folder (default: the current registered model)")
    parser.add_argument("--singles", type=int, default=3000, help="single-digit PNG files for the yardstick")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, origin = model_folder(args.model, tmp)
        net, _ = load_model(folder)
        items = random_numbers(args.count, seed=args.seed)
        paths = [str(p) for p in write_numbers(tmp / "numbers", items)]
        singles = [(str(tmp / "singles"), p.name) for p in write_pngs(tmp / "singles", args.singles)]
        truths = [item.text for item in items]
        n_digits = sum(len(t) for t in truths)

        marked = random_numbers(args.count, seed=args.seed + 1, stray_share=1 / 3)
        marked_reads = read_numbers([str(p) for p in write_numbers(tmp / "marked", marked)], net)
        reads = read_numbers(paths, net)  # warm: imports, caches, the model in classify_files
        classify_files(str(folder), singles[:100])
        times = {"read_numbers": [], "classify_files": []}
        for _ in range(args.rounds):
            times["classify_files"].append(timed(lambda: classify_files(str(folder), singles)))
            times["read_numbers"].append(timed(lambda: read_numbers(paths, net)))

    failed = [r for r in reads if isinstance(r, DataError)]
    texts = ["" if isinstance(r, DataError) else r.text for r in reads]
    overall = score(truths, texts)
    by_length = defaultdict(list)
    for truth, text in zip(truths, texts):
        by_length[len(truth)].append((truth, text))

    formats = {fmt: sum(item.format == fmt for item in items) for fmt in ("PNG", "JPEG")}
    touching = sum(any(item.touching) for item in items)
    print(f"model: {origin} ({folder})")
    print(f"{args.count:,} numbers, {n_digits:,} digits ({formats['PNG']} PNG, {formats['JPEG']} JPEG; "
          f"{touching} with a touching pair), seed {args.seed}; {len(failed)} unreadable files\n")
    print("| digits | numbers | exact | digits right by position | 1 - digit error rate |\n|---|---|---|---|---|")
    for length in sorted(by_length):
        s = score(*map(list, zip(*by_length[length])))
        print(f"| {length} | {s['numbers']} | {s['exact']:.1%} | {s['by_position']:.1%} | {s['one_minus_error']:.1%} |")
    print(f"| all | {overall['numbers']} | {overall['exact']:.1%} | {overall['by_position']:.1%} | "
          f"{overall['one_minus_error']:.1%} |")
    apart = [(t, r) for t, r, item in zip(truths, texts, items) if not any(item.touching)]
    s = score(*map(list, zip(*apart)))
    print(f"| all but the {args.count - len(apart)} with a touching pair | {s['numbers']} | {s['exact']:.1%} | "
          f"{s['by_position']:.1%} | {s['one_minus_error']:.1%} |")
    marked_texts = ["" if isinstance(r, DataError) else r.text for r in marked_reads]
    with_mark = [i for i in range(len(marked)) if i % 3 == 0]
    for label, chosen in ((f"{args.count:,} more, a third with a stray mark", range(len(marked))),
                          (f"... the {len(with_mark)} with a stray mark", with_mark)):
        s = score([marked[i].text for i in chosen], [marked_texts[i] for i in chosen])
        print(f"| {label} | {s['numbers']} | {s['exact']:.1%} | {s['by_position']:.1%} | "
              f"{s['one_minus_error']:.1%} |")
    print()

    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    per_digit = {"wall": wall["read_numbers"] / n_digits, "cpu": cpu["read_numbers"] / n_digits}
    per_file = {"wall": wall["classify_files"] / len(singles), "cpu": cpu["classify_files"] / len(singles)}
    print(f"speed, median of {args.rounds} interleaved rounds:\n")
    print("| run | images/s | digits/s | us per digit (wall) | us per digit (CPU) |\n|---|---|---|---|---|")
    print(f"| read_numbers, {args.count:,} number files | {args.count / wall['read_numbers']:,.0f} | "
          f"{n_digits / wall['read_numbers']:,.0f} | {per_digit['wall'] * 1e6:.0f} | {per_digit['cpu'] * 1e6:.0f} |")
    print(f"| classify_files, {len(singles):,} single-digit PNG files | {len(singles) / wall['classify_files']:,.0f}"
          f" | {len(singles) / wall['classify_files']:,.0f} | {per_file['wall'] * 1e6:.0f} | "
          f"{per_file['cpu'] * 1e6:.0f} |\n")
    print(f"time per digit over single-digit classification: {per_digit['wall'] / per_file['wall']:.2f}x wall clock, "
          f"{per_digit['cpu'] / per_file['cpu']:.2f}x CPU (target: at most 2x)")


if __name__ == "__main__":
    main()
