"""Training on a real Dask cluster on 127.0.0.1 (`digits train --dask`, nnmodel.model.dask_shards):
the workers read their shards of the Parquet files and compute each L-BFGS-B evaluation's sums; the
model is the one a fit in one process makes, bit for bit, also when a worker dies mid-training.

Why exactly equal, not "within a tolerance": every shard's arithmetic is the same float32 code with one
BLAS thread wherever it runs, and the shards' answers are added in one pairwise order over the shard
numbers (nnmodel.model.shards.tree_sum) whichever worker holds them; so the number of workers, and a
worker's death (its shards are read and computed again), change no bit. The tests assert equality.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from nnmodel.data.shards import load_shard, local_shards, plan_shards
from nnmodel.errors import DigitsError
from nnmodel.model.conv import ConvFeatures
from nnmodel.model.mlp import MLP

distributed = pytest.importorskip("distributed", reason="the test extra installs prefect-dask (and dask.distributed)")
ROWS = 2500  # rows per shard here: several shards, some mixing the two files


@pytest.fixture(scope="module")
def training_files(mnist_raw, tmp_path_factory):
    """A train split of 7,000 digits and a layer of 3,000 more and 1,000 negatives (label 10)."""
    from nnmodel.data.splits import split_table
    from nnmodel.images.negatives import NOT_A_DIGIT, negative_images

    folder = tmp_path_factory.mktemp("shards")
    train = folder / "train.parquet"
    pq.write_table(split_table(mnist_raw.train_images[:7000], mnist_raw.train_labels[:7000], np.arange(7000)), train,
                   row_group_size=3000)
    negatives = negative_images(1000, mnist_raw.train_images[7000:9000], seed=0)
    layer = folder / "layer.parquet"
    images = np.concatenate([mnist_raw.train_images[9000:12000], negatives])
    labels = np.concatenate([mnist_raw.train_labels[9000:12000], np.full(1000, NOT_A_DIGIT)])
    pq.write_table(split_table(images, labels, np.arange(4000)), layer, row_group_size=3000)
    return [train, layer]


def small_mlp(**kw):
    return MLP(hidden_sizes=(32,), max_iter=30, **kw)


def small_conv():
    return ConvFeatures(filters=4, stage2_filters=6, patches=5000, hidden_sizes=(24,), max_iter=15,
                        warmup=((0.3, 10),), test_shifts=0, not_a_digit=True, reject_iter=20)


FAMILIES = {"mlp": (small_mlp, 1), "mlp-sparse": (lambda: small_mlp(sparse=True), 1), "conv": (small_conv, 2)}


@pytest.fixture
def cluster(request):
    """A real local Dask cluster: a scheduler and `request.param` worker processes (one thread each)."""
    with distributed.LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def fit_here(make, files):
    return make().fit_shards(local_shards(files, rows=ROWS))


def fit_on(cluster, make, files, progress=None, **kw):
    from nnmodel.model.dask_shards import DaskShards

    shards = DaskShards(cluster.scheduler_address, plan_shards(files, rows=ROWS), load_shard, **kw)
    try:
        return make().fit_shards(shards, progress=progress), shards
    finally:
        shards.close()


def assert_same_model(a, b):
    arrays_a, arrays_b = a.to_arrays(), b.to_arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    if hasattr(a, "n_iter_") and hasattr(b, "n_iter_"):  # both fitted here (a loaded model has no record)
        assert a.n_iter_ == b.n_iter_


@pytest.mark.slow  # real clusters: about a minute in all
@pytest.mark.parametrize(("family", "cluster"), [("mlp", 1), ("mlp", 2), ("mlp-sparse", 2), ("conv", 1), ("conv", 2)],
                         indirect=["cluster"], ids=["mlp-1-worker", "mlp-2-workers", "mlp-sparse-2-workers",
                                                    "conv-1-worker", "conv-2-workers"])
def test_a_cluster_trains_the_model_one_process_trains(cluster, family, training_files, mnist_raw):
    make, n_files = FAMILIES[family]
    files = training_files[:n_files]
    here = fit_here(make, files)
    there, shards = fit_on(cluster, make, files)
    assert len(shards) == len(plan_shards(files, rows=ROWS)) >= 3
    assert shards.evaluations >= here.n_iter_  # every evaluation was summed on the cluster
    assert_same_model(here, there)
    X_test = mnist_raw.test_images[:2000].reshape(-1, 784) / np.float32(255)
    assert there.score(X_test, mnist_raw.test_labels[:2000]) > 0.85  # and a model that reads digits


@pytest.mark.slow  # real clusters: about a minute in all
@pytest.mark.parametrize("cluster", [2], indirect=True)
def test_a_worker_killed_mid_training_changes_nothing(cluster, training_files):
    """kill -9 of a worker process in the middle of L-BFGS-B: its shards are read and computed again
    on the cluster, and the model is still the one-process model."""
    here = fit_here(small_conv, training_files)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    victim = sorted(client.run(os.getpid).values())[0]
    killed = []

    def progress(info):
        if info["iteration"] == 12 and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(info["iteration"])

    there, _ = fit_on(cluster, small_conv, training_files, progress)
    assert killed
    assert victim not in client.run(os.getpid).values()  # the worker really died (its nanny started another)
    client.close()
    assert_same_model(here, there)


@pytest.mark.slow  # real clusters: about a minute in all
@pytest.mark.parametrize("cluster", [1], indirect=True)
def test_a_cluster_left_without_workers_fails_in_one_line(cluster, training_files):
    def progress(info):
        if info["iteration"] == 3:
            cluster.scale(0)

    with pytest.raises(DigitsError) as failed:
        fit_on(cluster, small_mlp, training_files[:1], progress, no_workers_grace=3)
    message = str(failed.value)
    assert "\n" not in message
    assert cluster.scheduler_address in message and "no worker left" in message


def test_an_unreachable_scheduler_is_one_line(training_files):
    from nnmodel.model.dask_shards import DaskShards

    with pytest.raises(DigitsError, match=r"^cannot reach the Dask scheduler at tcp://127.0.0.1:9 \("):
        DaskShards("tcp://127.0.0.1:9", plan_shards(training_files), load_shard, connect_timeout=2)


@pytest.fixture
def dask_processes(tmp_path):
    """`dask scheduler` and two `dask worker` processes (one thread each) on 127.0.0.1, as a user
    starts them; the scheduler's address."""
    import subprocess
    import sys

    from tests.helpers.processes import free_port, stop_process_group, wait_for

    dask = str(Path(sys.executable).with_name("dask"))
    port, root = free_port(), Path(__file__).resolve().parents[1]
    address = f"tcp://127.0.0.1:{port}"

    def start(args, log):
        return subprocess.Popen([dask, *args], stdout=open(tmp_path / log, "w"), stderr=subprocess.STDOUT, cwd=root,
                                start_new_session=True, env=dict(os.environ, DASK_LOGGING__DISTRIBUTED="warning"))
    started = [start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address",
                      f"127.0.0.1:{free_port()}"], "scheduler.log")]
    try:
        started += [start(["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--dashboard-address",
                           "127.0.0.1:0"], f"worker-{i}.log") for i in range(2)]

        def joined():
            try:
                with distributed.Client(address, timeout=5, set_as_default=False) as client:
                    return len(client.scheduler_info(n_workers=-1)["workers"]) == 2
            except OSError:
                return False
        wait_for(joined, 90, "two Dask workers to join", started[0])
        yield address
    finally:
        for process in reversed(started):
            stop_process_group(process)


@pytest.mark.slow
def test_digits_train_dask_registers_the_model_a_local_run_registers(tmp_path, link_prepared, dask_processes):
    """`digits train --dask ADDRESS`: the whole flow (prepare, distort, train, evaluate, register) with
    the fit on the cluster; the registered model is the one the same recipe fits in this process on the
    same data layers, and the command says where it trained."""
    from nnmodel.model import modelfile
    from nnmodel.model.families import new_model
    from nnmodel.store.layout import Layout
    from nnmodel.store.registry import Registry
    from tests.helpers.processes import run_digits

    root = link_prepared(tmp_path / "art")
    done = run_digits(["--artifacts", str(root), "train", "--preset", "quick", "--copies", "1", "-q",
                       "--dask", dask_processes])
    assert done.returncode == 0, done.stderr
    assert f"shards on the Dask cluster at {dask_processes} (2 workers)" in done.stderr
    registry = Registry(Layout(root))
    there, meta = modelfile.load_model(registry.path(registry.current()["version"]))
    assert meta["training"]["where"].startswith(f"the Dask cluster at {dask_processes}")
    files = [Path(meta["data"]["dir"]) / "train.parquet", Path(meta["distorted"]["dir"]) / "train.parquet"]
    here = new_model(meta["recipe"]["family"], meta["recipe"]["params"]).fit_shards(local_shards(files))
    assert_same_model(here, there)


@pytest.mark.slow  # Dask's client tries to connect for 5 s
def test_digits_train_refuses_a_dask_address_where_nothing_answers(tmp_path):
    from tests.helpers.processes import free_port, run_digits

    address = f"tcp://127.0.0.1:{free_port()}"
    done = run_digits(["--artifacts", str(tmp_path / "art"), "train", "--preset", "quick", "--dask", address])
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: --dask {address}: no Dask scheduler answers there ("), line
    assert not (tmp_path / "art" / "data").exists()  # refused before any work
