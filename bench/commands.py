"""Whole-command timings, with a Prefect server up (`digits server start`, started here) and without:
what a user waits for. Interleaved over --rounds; medians and ratios from the same run.

  import prefect        `python -c "import prefect"` (the yardstick)
  predict 10            `digits predict` of a folder of 10 PNG digits
  evaluate              `digits evaluate` of the current model
  train                 `digits train --preset quick` (data already prepared), against the same steps
                        called as plain functions in one process: what Prefect and the command add

Run: .venv/bin/python -m bench.commands [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.make_png_folder import write_pngs
from tests.helpers.processes import DIGITS, digits_server

ROOT = Path(__file__).resolve().parents[1]
PLAIN_TRAIN = """
import sys
from nnmodel import training
from nnmodel.data import raw, splits, with_feedback
from nnmodel.store.layout import Layout
from nnmodel.reports.evaluate import evaluate_model
from nnmodel.store.runs import new_run_id
layout, quiet = Layout(sys.argv[1]), (lambda m: None)
data = with_feedback.fold_feedback(layout, splits.prepare_data(layout, raw.fetch_raw(layout, log=quiet), log=quiet),
                                   log=quiet)
run = new_run_id()
candidate = training.train_candidate(layout, data, run, "quick", log=quiet)
report = evaluate_model(layout, candidate, data, "plain-" + run)
training.register_candidate(layout, candidate, report, data, log=quiet)
"""


def timed(argv: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv[:6])} failed: {done.stderr[-1500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_pngs(tmp / "ten", 10)
        art = str(tmp / "artifacts")
        times: dict[str, list[float]] = {}
        with digits_server(tmp / "home") as (_, env):
            without = {k: v for k, v in env.items() if k != "PREFECT_HOME"} | {"PREFECT_HOME": str(tmp / "solo")}
            timed([*DIGITS, "--artifacts", art, "train", "--preset", "quick", "-q"], env)  # data, model, warm-up
            commands = {
                "import prefect": ([sys.executable, "-c", "import prefect"], env),
                "predict 10, server": ([*DIGITS, "--artifacts", art, "predict", str(tmp / "ten"), "--out",
                                        str(tmp / "p.csv")], env),
                "predict 10, temporary server": ([*DIGITS, "--artifacts", art, "predict", str(tmp / "ten"), "--out",
                                                  str(tmp / "q.csv")], without),
                "evaluate, server": ([*DIGITS, "--artifacts", art, "evaluate"], env),
                "train quick, server": ([*DIGITS, "--artifacts", art, "train", "--preset", "quick", "-q"], env),
                "train quick, plain steps": ([sys.executable, "-c", PLAIN_TRAIN, art], env),
            }
            for _ in range(args.rounds):
                for name, (argv, environment) in commands.items():
                    times.setdefault(name, []).append(timed(argv, environment))
    base = statistics.median(times["import prefect"])
    print(f"median of {args.rounds} interleaved rounds (seconds, and the ratio to `import prefect`)")
    print("| command | seconds | vs import prefect |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(values) / base:.1f}x |")
    added = statistics.median(times["train quick, server"]) - statistics.median(times["train quick, plain steps"])
    print(f"\n`digits train` adds {added:.1f} s to the same steps run as plain functions")


if __name__ == "__main__":
    main()
