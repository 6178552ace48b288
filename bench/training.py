"""Training benchmarks; each training runs in its own process (bench/train_one.py), interleaved.

  speed     ours (default and original presets) vs the plain float64 yardstick, same 70 iterations;
            reports time ratios against the yardstick measured in the same run, accuracies, peak RSS
  accuracy  the default preset over seeds 0, 1, 2 (median test accuracy), beside the original preset
  best      the best preset once (time and accuracy)

Run: .venv/bin/python bench/training.py speed [--rounds 2]
     .venv/bin/python bench/training.py accuracy
     .venv/bin/python bench/training.py best
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "train_one.py"), *args], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print("  " + json.dumps(result), file=sys.stderr, flush=True)
    return result


def table(rows: list[dict], baseline: float | None = None) -> None:
    print("| run | seed | iterations | examples | seconds | vs yardstick | train | validation | test | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['seconds'] / baseline:.2f}x" if baseline else ""
        print(f"| {r['impl']} {r['preset']} | {r['seed']} | {r['iterations']} | {r['examples']:,} | {r['seconds']:.1f} | "
              f"{ratio} | {r['train']:.2%} | {r['validation']:.2%} | {r['test']:.2%} | {r['peak_rss_mb']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "accuracy", "best"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "speed":
        rows = []
        for _ in range(args.rounds):
            rows += [run("--impl", "yardstick"), run("--preset", "default"), run("--preset", "original")]
        base = statistics.median(r["seconds"] for r in rows if r["impl"] == "yardstick")
        table(rows, base)
        for preset in ("default", "original"):
            mine = statistics.median(r["seconds"] for r in rows if r["preset"] == preset)
            print(f"\nmedian time ratio, ours {preset} / yardstick: {mine / base:.2f}x")
    elif args.mode == "accuracy":
        rows = [run("--preset", preset, "--seed", str(seed)) for seed in (0, 1, 2) for preset in ("default", "original")]
        table(rows)
        for preset in ("default", "original"):
            print(f"\nmedian test accuracy, {preset} preset, seeds 0-2: "
                  f"{statistics.median(r['test'] for r in rows if r['preset'] == preset):.2%}")
    else:
        table([run("--preset", "best")])


if __name__ == "__main__":
    main()
