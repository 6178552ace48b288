"""Training shards on a Dask cluster: each worker reads its own shards of the Parquet files, computes
their distortion-free inputs and features, and keeps them; the driver (the training command) keeps
only the model's parameters and L-BFGS-B's memory.

Every L-BFGS-B evaluation sends the parameters once (each worker fetches them once), runs one task per
shard on the worker that holds it, and adds the shards' answers in tasks on the workers, pairwise in
the order of the shard numbers (`nnmodel.model.shards.tree_sum`, the order a fit in one process uses):
the driver gathers one loss and one gradient. A worker that dies takes its shards with it; Dask
computes them again on the workers left, from their lineage (read the rows again, compute the features
again), and the evaluation is asked again: the same numbers, so the same model. When no worker is
left, or a shard keeps killing workers, the fit fails with one line.

Workers need this project installed (they import nnmodel), as for `digits predict --dask`.
"""
from __future__ import annotations

import time

import numpy as np

from nnmodel.errors import DigitsError
from nnmodel.model.shards import add, one_blas_thread

EVALUATION_TIMEOUT = 600.0  # seconds an evaluation may take, recomputing lost shards included
NO_WORKERS_GRACE = 30.0   # seconds without any worker before the fit gives up
POLL = 2.0                # seconds between looks at the cluster while waiting
ATTEMPTS = 3                # times an evaluation is asked again after it lost data with a worker
SHIP_FROM = 100_000         # arguments of at least this many bytes are sent once, not put in every task


def on_worker(fn, state, *args):
    """fn(state, *args) with one BLAS thread (the arithmetic a fit in one process does)."""
    with one_blas_thread():
        return fn(state, *args)


class DaskShards:
    """Shards whose states live on the workers of the Dask scheduler at `address` (see the module
    docstring), shard i's first state made there by load(sources[i]) (e.g. nnmodel.data.shards'
    load_shard of its plan_shards); the same methods as `nnmodel.model.shards.LocalShards`."""

    def __init__(self, address: str, sources: list, load, timeout: float = EVALUATION_TIMEOUT,
                 no_workers_grace: float = NO_WORKERS_GRACE, connect_timeout: float = 15.0):
        try:
            from distributed import Client
        except ImportError:
            raise DigitsError("--dask needs dask.distributed: pip install 'digits[dask]'") from None
        try:
            self.client = Client(address, timeout=f"{connect_timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DigitsError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
        self.address, self.timeout, self.no_workers_grace = address, timeout, no_workers_grace
        workers = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            self.client.close()
            raise DigitsError(f"the Dask cluster at {address} has no workers")
        self.workers = len(workers)
        self.where = f"the Dask cluster at {address} ({self.workers} worker{'s' if self.workers > 1 else ''})"
        n = len(sources)  # consecutive shards on the same worker: the first additions of the tree stay local
        self.futures = [self.client.submit(load, source, workers=[workers[i * len(workers) // n]],
                                           allow_other_workers=True, key=f"{load.__name__}-{i}-{_token()}")
                        for i, source in enumerate(sources)]
        self.count, self.evaluations, self.lost = len(sources), 0, 0

    def __len__(self) -> int:
        return self.count

    def _ship(self, args):
        """Big array arguments as one task each (sent once to the cluster, fetched by each worker that
        needs them, and made again if lost with a worker), the rest as they are."""
        return [self.client.submit(np.asarray, a, key=f"parameters-{_token()}")
                if isinstance(a, np.ndarray) and a.nbytes >= SHIP_FROM else a for a in args]

    def _ask(self, make):
        """make() -> a future, asked again when a worker's death lost data it needed."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        for attempt in range(ATTEMPTS):
            try:
                return self._wait(make())
            except KilledWorker as exc:
                raise DigitsError(f"training on {self.address} stopped: a shard's work killed workers "
                                  f"({exc.last_worker.address if exc.last_worker else 'unknown'})") from None
            except (FutureCancelledError, LookupError, OSError) as exc:  # data lost with a worker
                self.lost += 1
                if attempt == ATTEMPTS - 1:
                    raise DigitsError(f"training on {self.address} stopped: {type(exc).__name__}: {exc}") from None

    def _wait(self, future):
        """The future's result; DigitsError after `timeout` seconds, or after NO_WORKERS_GRACE seconds
        without a single worker."""
        started = alone_since = time.monotonic()
        while True:
            try:
                return future.result(timeout=POLL)
            except TimeoutError:
                now = time.monotonic()
                if self.client.scheduler_info(n_workers=-1)["workers"]:
                    alone_since = now
                elif now - alone_since > self.no_workers_grace:
                    raise DigitsError(f"training on {self.address} stopped: no worker left for "
                                      f"{self.no_workers_grace:.0f} s") from None
                if now - started > self.timeout:
                    raise DigitsError(f"training on {self.address} stopped: no answer within "
                                      f"{self.timeout:.0f} s") from None

    def _per_shard(self, fn, args):
        shipped = self._ship(args)
        token = _token()  # keys named for the work: Dask times each kind apart (its work stealing
        # then sees a sum as the short task it is, not worth moving a shard for)
        return [self.client.submit(on_worker, fn, f, *shipped, key=f"{fn.__name__}-{i}-{token}")
                for i, f in enumerate(self.futures)]

    def map(self, fn, *args) -> list:
        """[fn(state, *args) for each shard], computed where each shard lives."""
        return self._ask(lambda: self.client.submit(list, self._per_shard(fn, args), key=f"gather-{_token()}"))

    def update(self, fn, *args) -> None:
        """Each shard's state becomes fn(state, *args), on its worker (lineage kept: a lost state is
        computed again)."""
        # the arguments stay in each task (not scattered): a lost state can always be made again
        self.futures = [self.client.submit(on_worker, fn, f, *args, pure=False, key=f"{fn.__name__}-{i}-{_token()}")
                        for i, f in enumerate(self.futures)]

    def total(self, fn, *args):
        """The tree_sum of fn(state, *args) over the shards, added up on the workers."""
        def make():
            parts = self._per_shard(fn, args)
            while len(parts) > 1:
                parts = [self.client.submit(add, parts[i], parts[i + 1], key=f"add-{_token()}") if i + 1 < len(parts)
                         else parts[i] for i in range(0, len(parts), 2)]
            return parts[0]
        self.evaluations += 1
        return self._ask(make)

    def close(self) -> None:
        self.futures = []
        self.client.close()


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:12]
