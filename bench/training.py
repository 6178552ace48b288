"""Training benchmarks; each training runs in its own process (bench/train_one.py), interleaved.

  speed     ours (the mlp and original presets, the one-hidden-layer networks; the original also with
            dense inputs, our earlier version) vs the plain float64 yardstick, 70 iterations, seeds 0-2
            interleaved; reports
            median time ratios against the yardstick measured in the same run, accuracies, peak RSS
  accuracy  the default, mlp and original presets over seeds 0, 1, 2: median MNIST test accuracy and
            median accuracy on other writers' digits (optdigits, pen-drawn)
  best      the best preset over seeds 0, 1, 2 (the same figures; --seeds 1 for seed 0 alone)
  command   the whole `digits train --preset P` command in a fresh artifacts folder (fetch, prepare,
            distort, train, evaluate, register), --runs times: its wall time and what the model scored

Run: .venv/bin/python -m bench.training speed [--seeds 3]
     .venv/bin/python -m bench.training accuracy
     .venv/bin/python -m bench.training best
     .venv/bin/python -m bench.training command --preset default [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.train_one", *args], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print("  " + json.dumps(result), file=sys.stderr, flush=True)
    return result


def pct(value) -> str:
    return "" if value is None else f"{value:.2%}"


def table(rows: list[dict], baseline: float | None = None) -> None:
    print("| run | seed | iterations | examples | seconds | vs yardstick | train | validation | test | optdigits "
          "| drawn | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['seconds'] / baseline:.2f}x" if baseline else ""
        print(f"| {r['impl']} {r['preset']} | {r['seed']} | {r['iterations']} | {r['examples']:,} "
              f"| {r['seconds']:.1f} | {ratio} | {r['train']:.2%} | {r['validation']:.2%} | {r['test']:.2%} "
              f"| {pct(r.get('optdigits'))} | {pct(r.get('drawn'))} | {r['peak_rss_mb']} |")


def medians(rows: list[dict], preset: str) -> str:
    mine = [r for r in rows if r["preset"] == preset]
    parts = [f"{name} {statistics.median(r[name] for r in mine):.2%}" for name in ("test", "optdigits", "drawn")
             if all(isinstance(r.get(name), float) for r in mine)]
    return (f"{preset}, seeds {', '.join(str(r['seed']) for r in mine)}: median " + ", ".join(parts)
            + f"; median {statistics.median(r['seconds'] for r in mine):.0f} s of training")


def command(preset: str, runs: int) -> None:
    """The whole command as a new user runs it, each time in a fresh artifacts folder."""
    rows = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "cli", "--artifacts", tmp, "train", "--preset", preset,
                                   "--quiet"], capture_output=True, text=True, cwd=ROOT)
            seconds = time.perf_counter() - started
            if done.returncode:
                raise SystemExit(done.stderr[-2000:])
            from nnmodel.store.registry import Registry

            metrics = Registry(tmp).metadata(done.stdout.strip().splitlines()[-1])["metrics"]
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest run so far
            row = {"seconds": seconds, "peak_mb": round(peak), **{k: v["accuracy"] for k, v in metrics.items()}}
            print("  " + json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(f"`digits train --preset {preset}` in a fresh artifacts folder, {runs} runs")
    print("| run | seconds | test | optdigits | drawn |\n|---|---|---|---|---|")
    for i, r in enumerate(rows):
        print(f"| {i + 1} | {r['seconds']:.0f} | {pct(r['test'])} | {pct(r.get('optdigits'))} "
              f"| {pct(r.get('drawn'))} |")
    print(f"\nmedian {statistics.median(r['seconds'] for r in rows):.0f} s for the whole command; "
          f"peak memory of a run {max(r['peak_mb'] for r in rows):,} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "accuracy", "best", "command"])
    parser.add_argument("--seeds", type=int, default=3, help="speed, best: seeds 0..N-1")
    parser.add_argument("--preset", default="default", help="command: the preset")
    parser.add_argument("--runs", type=int, default=3, help="command: how many runs")
    args = parser.parse_args()
    if args.mode == "speed":
        rows = []
        for seed in range(args.seeds):  # interleaved: every implementation once per seed
            s = str(seed)
            rows += [run("--impl", "yardstick", "--seed", s), run("--preset", "mlp", "--seed", s),
                     run("--preset", "original", "--seed", s), run("--preset", "original", "--seed", s, "--dense")]
        base = statistics.median(r["seconds"] for r in rows if r["impl"] == "yardstick")
        base_acc = statistics.median(r["test"] for r in rows if r["impl"] == "yardstick")
        table(rows, base)
        print(f"\nyardstick: median {base:.1f} s, median test accuracy {base_acc:.2%}")
        for label in ("ours mlp", "ours original", "ours original (dense inputs)"):
            mine = [r for r in rows if f"{r['impl']} {r['preset']}" == label]
            print(f"{label}: median time ratio {statistics.median(r['seconds'] for r in mine) / base:.2f}x, "
                  f"median test accuracy {statistics.median(r['test'] for r in mine):.2%}")
    elif args.mode == "accuracy":
        rows = [run("--preset", preset, "--seed", str(seed))
                for seed in (0, 1, 2) for preset in ("default", "mlp", "original")]
        table(rows)
        print()
        for preset in ("default", "mlp", "original"):
            print(medians(rows, preset))
    elif args.mode == "best":
        rows = [run("--preset", "best", "--seed", str(seed)) for seed in range(args.seeds)]
        table(rows)
        print("\n" + medians(rows, "best"))
    else:
        command(args.preset, args.runs)


if __name__ == "__main__":
    main()
