"""Where batch prediction's time goes: per-image cost of each stage in one process, and the flow's
fixed cost per run. Explains the gap to the bare decode rate in BENCHMARKS.md.

  stages   microseconds per image over 10,000 MNIST PNGs: bare decode (Image.open + load, the
           yardstick); Pillow's full path as we call it (load_image + to_grey); our file decode
           (file_grey: the plain grey PNG fast path); then, each including the decode,
           preprocess_files and classify_files (+ prediction and CSV rows)
  flow     the predict flow on a 10-file folder (its fixed cost) and on the 10,000 files, 2 workers

Run: .venv/bin/python -m bench.predict_stages [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.make_png_folder import write_pngs
from bench.predict import model_for_bench
from cli import prefect_env

prefect_env.configure()


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def each(fn, paths) -> None:
    """fn on every path, keeping no result (10,000 live images would time the allocator, not fn)."""
    for p in paths:
        fn(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from PIL import Image

    from cli.predict import task_runner_for
    from flows.predict import predict_flow
    from nnmodel.batch.classify import classify_files
    from nnmodel.images.decode import file_grey, load_image, to_grey
    from nnmodel.images.preprocess import preprocess_files

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = [str(p) for p in write_pngs(tmp / "png")]
        small = tmp / "png10"
        small.mkdir()
        for p in paths[:10]:
            shutil.copy(p, small)
        model_dir = str(model_for_bench(tmp))
        files = [(str(tmp / "png"), os.path.basename(p)) for p in paths]

        def bare():
            for p in paths:
                with Image.open(p) as image:
                    image.load()
        stages = {"bare decode": bare,
                  "Pillow full path (load_image + to_grey)": lambda: each(lambda p: to_grey(load_image(p)), paths),
                  "file_grey (fast path)": lambda: each(file_grey, paths),
                  "preprocess_files": lambda: preprocess_files(paths),
                  "classify_files (+ prediction, CSV rows)": lambda: classify_files(model_dir, files)}
        flow = predict_flow.with_options(task_runner=task_runner_for(2, None))
        runs = {"flow, 10 files": lambda: flow([str(small)], str(tmp / "a.csv"), model_dir, processes=2),
                "flow, 10,000 files": lambda: flow([str(tmp / "png")], str(tmp / "b.csv"), model_dir, processes=2)}
        times: dict[str, list[float]] = {name: [] for name in [*stages, *runs]}
        with prefect_env.flow_settings():
            runs["flow, 10 files"]()  # warm up: temporary server, process pool
            for _ in range(args.rounds):
                for name, fn in [*stages.items(), *runs.items()]:
                    times[name].append(timed(fn))
        print(f"{len(paths):,} PNG files, median of {args.rounds} interleaved rounds")
        print("| stage | us per image, one process |\n|---|---|")
        for name in stages:
            print(f"| {name} | {statistics.median(times[name]) / len(paths) * 1e6:.1f} |")
        print("\n| flow run, 2 workers | seconds |\n|---|---|")
        for name in runs:
            print(f"| {name} | {statistics.median(times[name]):.3f} |")


if __name__ == "__main__":
    main()
