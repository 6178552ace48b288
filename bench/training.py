"""Training benchmarks; each training runs in its own process (bench/train_one.py), interleaved.

  speed     ours (default and original presets; the original also with dense inputs, our earlier
            version) vs the plain float64 yardstick, same 70 iterations, seeds 0-2 interleaved;
            reports median time ratios against the yardstick measured in the same run, accuracies, peak RSS
  accuracy  the default preset over seeds 0, 1, 2 (median test accuracy), beside the original preset
  best      the best preset once (time and accuracy)

Run: .venv/bin/python -m bench.training speed [--seeds 3]
     .venv/bin/python -m bench.training accuracy
     .venv/bin/python -m bench.training best
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.train_one", *args], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print("  " + json.dumps(result), file=sys.stderr, flush=True)
    return result


def table(rows: list[dict], baseline: float | None = None) -> None:
    print("| run | seed | iterations | examples | seconds | vs yardstick | train | validation | test | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['seconds'] / baseline:.2f}x" if baseline else ""
        print(f"| {r['impl']} {r['preset']} | {r['seed']} | {r['iterations']} | {r['examples']:,} "
              f"| {r['seconds']:.1f} | {ratio} | {r['train']:.2%} | {r['validation']:.2%} | {r['test']:.2%} "
              f"| {r['peak_rss_mb']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "accuracy", "best"])
    parser.add_argument("--seeds", type=int, default=3, help="speed: seeds 0..N-1 of every implementation")
    args = parser.parse_args()
    if args.mode == "speed":
        rows = []
        for seed in range(args.seeds):  # interleaved: every implementation once per seed
            s = str(seed)
            rows += [run("--impl", "yardstick", "--seed", s), run("--preset", "default", "--seed", s),
                     run("--preset", "original", "--seed", s), run("--preset", "original", "--seed", s, "--dense")]
        base = statistics.median(r["seconds"] for r in rows if r["impl"] == "yardstick")
        base_acc = statistics.median(r["test"] for r in rows if r["impl"] == "yardstick")
        table(rows, base)
        print(f"\nyardstick: median {base:.1f} s, median test accuracy {base_acc:.2%}")
        for label in ("ours default", "ours original", "ours original (dense inputs)"):
            mine = [r for r in rows if f"{r['impl']} {r['preset']}" == label]
            print(f"{label}: median time ratio {statistics.median(r['seconds'] for r in mine) / base:.2f}x, "
                  f"median test accuracy {statistics.median(r['test'] for r in mine):.2%}")
    elif args.mode == "accuracy":
        rows = [run("--preset", preset, "--seed", str(seed))
                for seed in (0, 1, 2) for preset in ("default", "original")]
        table(rows)
        for preset in ("default", "original"):
            print(f"\nmedian test accuracy, {preset} preset, seeds 0-2: "
                  f"{statistics.median(r['test'] for r in rows if r['preset'] == preset):.2%}")
    else:
        table([run("--preset", "best")])


if __name__ == "__main__":
    main()
