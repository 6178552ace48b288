"""The local process pool that batch prediction hands its chunks to (true parallelism for the
CPU-bound decoding): one owner opens it around a whole batch (`local_pool`, the `digits predict`
command) and closes it; chunks run in it while it is open (`run_in_pool`), else where they are (a
Dask worker is already a process of its own)."""
from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

_OPEN: dict[int, ProcessPoolExecutor] = {}


@contextlib.contextmanager
def local_pool(workers: int):
    """A pool of `workers` processes for the block, forked from a clean server that has the batch
    modules loaded (starting it costs ~0.1 s, not Prefect's seconds), stopped when the block ends.
    With one worker or fewer there is no pool: chunks run in their own threads."""
    if workers <= 1:
        yield None
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nnmodel.batch.classify"])
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=one_blas_thread)
    _OPEN[workers] = pool
    try:
        yield pool
    finally:
        del _OPEN[workers]
        pool.shutdown(wait=True, cancel_futures=True)


def run_in_pool(workers: int, fn, *args):
    """fn(*args) in the open pool of `workers` processes, or here when there is none (workers 0, or
    a flow run whose caller opened no pool)."""
    pool = _OPEN.get(workers)
    return fn(*args) if pool is None else pool.submit(fn, *args).result()


def one_blas_thread() -> None:
    """Pool workers already fill the cores: a BLAS thread pool in each would only fight the others."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
