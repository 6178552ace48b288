"""Batch prediction throughput on MNIST digits stored as PNG files (10,000 by default; --count).

Measured in one run, interleaved over --rounds, on the same cores:
  bare decode   Image.open + load of every file, one process per worker (the yardstick)
  plain loop    one process: open, preprocess_image, predict one file at a time, write a CSV row
  flow          our predict flow (Prefect, a task per chunk, CSV written), timed around the flow call
                after the temporary Prefect server is up; and the whole `digits predict` command,
                with its temporary Prefect server and with PREFECT_API_URL set to a running
                `prefect server start` (started here on 127.0.0.1)

Run: .venv/bin/python -m bench.predict [--rounds 3] [--workers 2] [--count 100000 --skip-plain]
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.make_png_folder import write_pngs
from cli import prefect_env
from nnmodel.store.layout import Layout
from tests.helpers.processes import DIGITS, running_prefect_server

prefect_env.configure()

ROOT = Path(__file__).resolve().parents[1]


def decode_share(paths: list[str]) -> int:
    from PIL import Image

    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths)


def bare_decode(paths: list[str], workers: int) -> float:
    shares = [paths[i::workers] for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(decode_share, [paths[:50]] * workers)  # warm the workers up
        started = time.perf_counter()
        pool.map(decode_share, shares)
        return time.perf_counter() - started


def plain_loop(paths: list[str], model_dir: Path, out: Path) -> float:
    from nnmodel.images.preprocess import preprocess_image
    from nnmodel.model.modelfile import load_model

    net, _ = load_model(model_dir)
    started = time.perf_counter()
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        for path in paths:
            result = preprocess_image(path)
            proba = net.predict_proba(result.pixels.reshape(1, 784))[0]
            writer.writerow([path, int(proba.argmax()), *proba])
    return time.perf_counter() - started


def model_for_bench(tmp: Path) -> Path:
    """The current registered model if there is one, else a quickly trained 784-100-10 model."""
    from nnmodel.errors import SetupError
    from nnmodel.store.registry import Registry

    try:
        return Registry(Layout.locate()).resolve()
    except SetupError:
        import numpy as np

        from nnmodel.data.readers import read_bundled
        from nnmodel.model.mlp import MLP
        from nnmodel.model.modelfile import save_model

        raw = read_bundled()
        net = MLP(hidden_sizes=(100,), max_iter=20).fit(raw.train_images.reshape(-1, 784) / np.float32(255),
                                                             raw.train_labels)
        return save_model(net, tmp / "model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--chunk-size", type=int, help="default: the command's automatic size")
    parser.add_argument("--count", type=int, default=10000, help="PNG files (default 10,000)")
    parser.add_argument("--skip-plain", action="store_true", help="leave out the (slow) plain loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "png"
        paths = [str(p) for p in write_pngs(folder, args.count)]
        artifacts = registered_copy(model_for_bench(tmp), tmp / "artifacts")
        from cli.predict import task_runner_for
        from flows.predict import predict_flow
        from nnmodel.store.registry import Registry

        model_dir = str(Registry(artifacts).resolve())
        flow = predict_flow.with_options(task_runner=task_runner_for(args.workers, None))
        times = {"bare decode": [], "plain loop": [], "flow": [], "digits predict command": [],
                 "digits predict command, running server": []}
        command = [*DIGITS, "--artifacts", str(artifacts), "predict", str(folder),
                   "--out", str(tmp / "cmd.csv"), "--workers", str(args.workers)]
        command += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
        with prefect_env.flow_settings(), running_prefect_server(tmp / "prefect-home") as api:
            flow([str(folder)], str(tmp / "warm.csv"), model_dir, chunk_size=args.chunk_size, processes=args.workers)
            for _ in range(args.rounds):
                times["bare decode"].append(bare_decode(paths, args.workers))
                if not args.skip_plain:
                    times["plain loop"].append(plain_loop(paths, Path(model_dir), tmp / "plain.csv"))
                started = time.perf_counter()
                flow([str(folder)], str(tmp / "flow.csv"), model_dir, chunk_size=args.chunk_size,
                     processes=args.workers)
                times["flow"].append(time.perf_counter() - started)
                for name, env in [("digits predict command", None),
                                  ("digits predict command, running server", dict(os.environ, PREFECT_API_URL=api))]:
                    started = time.perf_counter()
                    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env)
                    times[name].append(time.perf_counter() - started)
        n = len(paths)
        times = {name: values for name, values in times.items() if values}
        base = n / statistics.median(times["bare decode"])
        plain = n / statistics.median(times["plain loop"]) if "plain loop" in times else None
        print(f"{n:,} PNG files, {args.workers} workers, chunk size {args.chunk_size or 'auto'}, "
              f"median of {args.rounds} rounds")
        print("| run | images/s | vs bare decode | vs plain loop |\n|---|---|---|---|")
        for name, values in times.items():
            rate = n / statistics.median(values)
            print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x | {f'{rate / plain:.2f}x' if plain else ''} |")


def registered_copy(model_dir: Path, root: Path) -> Path:
    """An artifacts folder whose registry holds a copy of `model_dir` as current."""
    import shutil

    from nnmodel.store.registry import Registry

    registry = Registry(root)
    with registry.new_version() as (staging, version):
        for f in Path(model_dir).iterdir():
            if f.is_file():
                shutil.copy(f, staging / f.name)
    registry.promote(version, force=True)
    return root


if __name__ == "__main__":
    main()
