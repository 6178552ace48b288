"""Training on a Dask cluster against training in one process: seconds per L-BFGS-B evaluation, bytes
moved per evaluation, and the driver's peak memory, for a preset's real training data (the train split
and its distortion layer, prepared once under artifacts/).

  .venv/bin/python -m bench.dask_training --preset default --evaluations 10

Each setting runs in a fresh process (so its peak memory is its own): the shards in that process (on
two threads, and on one), or on a local Dask cluster of 1 and of 2 worker processes (one thread each)
on 127.0.0.1. The shards are prepared as a fit prepares them (for the conv family: filters, features,
standardiser), then the objective of the first digit head on all digits is evaluated `--evaluations`
times (after one untimed evaluation). Bytes: the parameters the driver sends and the gradient it gets
back (their sizes), and what the workers sent (to each other and the driver: Dask's own count,
`transfer_outgoing_bytes_total`). Prints a Markdown table and a paper estimate for 10 million training
images on 32 workers.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np


def one(preset: str, where: str, evaluations: int) -> dict:
    """One setting ("local", or a worker count), in this process."""
    from bench.train_one import prepared_data
    from nnmodel.data.distorted import distort_for_recipe
    from nnmodel.data.shards import load_shard, local_shards, plan_shards
    from nnmodel.model.families import new_model
    from nnmodel.model.presets import recipe
    from nnmodel.model.shards import dense_objective
    from nnmodel.store.layout import Layout

    data = prepared_data()
    chosen = recipe(preset)
    layer = distort_for_recipe(Layout.locate(), data, preset, log=lambda m: None)
    files = [data / "train.parquet", *([layer / "train.parquet"] if layer else [])]
    model = new_model(chosen["family"], chosen["params"])
    cluster, client = None, None
    started = time.perf_counter()
    if where.startswith("local"):
        shards = local_shards(files)
        shards.threads = 1 if where == "local-1-thread" else shards.threads
    else:
        from distributed import Client, LocalCluster

        from nnmodel.model.dask_shards import DaskShards

        cluster = LocalCluster(n_workers=int(where), threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        shards = DaskShards(cluster.scheduler_address, plan_shards(files), load_shard)
        client = Client(cluster.scheduler_address, set_as_default=False)
    if chosen["family"] == "conv":
        digits, _ = model.prepare_shards(shards)
        m, key, sizes, activation, output = sum(digits), "digits", model.sizes, "relu", "softmax"
    else:
        m, key, sizes, activation, output = model.prepare_shards(shards), "xy", model.sizes, model.activation, \
            model.output
    prepare_seconds = time.perf_counter() - started
    objective = dense_objective(shards, key, sizes, model.lam, activation, output, m)
    flat = np.random.default_rng(0).normal(0, 0.01, sum(a * b + b for a, b in itertools.pairwise(sizes)))
    objective(flat)  # untimed: the first evaluation fetches the code and warms the caches

    def between_workers() -> int:
        if client is None:
            return 0
        return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())

    moved = between_workers()
    started = time.perf_counter()
    for i in range(evaluations):
        objective(flat + 1e-4 * i)
    seconds = (time.perf_counter() - started) / evaluations
    moved = (between_workers() - moved) / evaluations
    result = {"where": where, "preset": preset, "shards": len(shards), "rows": sum(s.rows for s in plan_shards(files)),
              "examples": m, "parameters": int(flat.size), "prepare_seconds": round(prepare_seconds, 1),
              "seconds_per_evaluation": round(seconds, 4),
              "driver_bytes_per_evaluation": 2 * flat.nbytes if client is not None else 0,
              "worker_bytes_per_evaluation": int(moved),
              "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    shards.close()
    if client is not None:
        client.close()
        cluster.close()
    return result


def estimate(rows: list[dict], images: float = 10e6, workers: int = 32) -> list[str]:
    """Seconds per evaluation for `images` training images on `workers` one-thread workers like these,
    on paper, from the measurements: compute per row (one thread here), the cluster's cost per task (a
    1-worker evaluation less the same work on one thread here, per task), and the bytes over 1 GB/s."""
    one_worker = next(r for r in rows if r["where"] == "1")
    one_thread = next(r for r in rows if r["where"] == "local-1-thread")
    per_row = one_thread["seconds_per_evaluation"] / one_thread["rows"]
    compute = per_row * images / workers
    grad_mb = one_worker["parameters"] * 8 / 1e6
    levels = math.ceil(math.log2(workers))
    network = (workers + levels) * grad_mb / 1e3   # parameters out to each worker, the tree's levels back
    overhead = one_worker["seconds_per_evaluation"] - one_thread["seconds_per_evaluation"]
    per_task = max(overhead, 0) / (2 * one_worker["shards"])      # a task per shard, an addition per shard
    lines = [f"paper estimate, {images / 1e6:.0f}M images on {workers} one-thread workers like these: compute "
             f"{per_row * 1e6:.2f} us/row x {images / workers:,.0f} rows a worker = {compute:.1f} s; parameters "
             f"and gradients ({grad_mb:.1f} MB) over 1 GB/s, {workers} sends and {levels} tree levels = "
             f"{network:.2f} s; the cluster's cost per task measured here {per_task * 1e3:.1f} ms"]
    for shard_rows in (16_384, 262_144):
        tasks = 2 * math.ceil(images / shard_rows)
        lines.append(f"  shards of {shard_rows:,} rows: {tasks:,} tasks = {per_task * tasks:.1f} s of scheduling; "
                     f"about {compute + network + per_task * tasks:.1f} s per evaluation")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--evaluations", type=int, default=10)
    parser.add_argument("--one", metavar="WHERE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.preset, args.one, args.evaluations)))
        return
    rows = []
    for where in ("local", "local-1-thread", "1", "2"):
        done = subprocess.run([sys.executable, "-m", "bench.dask_training", "--preset", args.preset, "--evaluations",
                               str(args.evaluations), "--one", where], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    local = rows[0]["seconds_per_evaluation"]
    print(f"preset {args.preset}: {rows[0]['rows']:,} training rows in {rows[0]['shards']} shards, "
          f"{rows[0]['parameters']:,} parameters; {args.evaluations} evaluations each\n")
    print("| where | seconds per evaluation | vs one process | driver sends + receives | workers send "
          "| driver peak memory | preparing the shards |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        name = {"local": "one process (2 threads)", "local-1-thread": "one process, one thread"}.get(
            r["where"], f"Dask, {r['where']} worker{'s' if r['where'] != '1' else ''} (1 thread each)")
        print(f"| {name} | {r['seconds_per_evaluation']:.3f} s | {r['seconds_per_evaluation'] / local:.2f}x | "
              f"{r['driver_bytes_per_evaluation'] / 1e6:.1f} MB | {r['worker_bytes_per_evaluation'] / 1e6:.1f} MB | "
              f"{r['driver_peak_mb']:,} MB | {r['prepare_seconds']:.0f} s |")
    print()
    print("\n".join(estimate(rows)))


if __name__ == "__main__":
    main()
