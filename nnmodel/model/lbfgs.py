"""Minimising any objective with SciPy's L-BFGS-B: per-iteration progress, validation checks, early
stopping. The objective is a function of one flat float64 vector; no model is imported here.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize


@dataclass
class FitResult:
    """What a fit produced: flat float64 parameters, iterations run, one dict per iteration."""

    flat: np.ndarray
    n_iter: int
    history: list[dict] = field(default_factory=list)
    stop_reason: str = ""
    seconds: float = 0.0
    kept_iteration: int = 0      # the iteration the returned parameters come from (early stopping: the best)


@contextlib.contextmanager
def single_threaded_scipy_blas():
    """Limit SciPy's bundled OpenBLAS to one thread while NumPy's keeps its own pool.

    Each wheel bundles its own OpenBLAS; on a small machine their two thread pools fight inside
    L-BFGS-B (measured: 1.7x slower). Without threadpoolctl this does nothing.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        yield
        return
    controller = ThreadpoolController()
    # SciPy's wheel keeps its libraries in scipy.libs/ (NumPy's own OpenBLAS is also *named*
    # libscipy_openblas, but lives in numpy.libs/ and must keep its threads)
    scipy_pools = [lib for lib in controller.lib_controllers if Path(lib.filepath).parent.name == "scipy.libs"]
    saved = [lib.num_threads for lib in scipy_pools]
    for lib in scipy_pools:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(scipy_pools, saved):
            lib.set_num_threads(n)


def minimise(objective, x0: np.ndarray, *, max_iter: int, memory: int = 10, tol: float = 1e-10, score=None,
             eval_every: int = 10, patience: int | None = None, progress=None, counted_from: int = 0,
             of: int | None = None) -> FitResult:
    """Minimise objective(flat) -> (loss, gradient (same shape as flat)) from x0 with L-BFGS-B.

    progress(info) is called after every iteration with iteration, max_iter, loss, grad_norm, seconds,
    eta_seconds and, every `eval_every` iterations when `score(flat)` is given, val_accuracy.
    With `patience`, minimising stops after that many checks without a better score and returns the
    best parameters seen. `memory` is L-BFGS-B's number of stored corrections (maxcor); `tol` its
    relative cost tolerance (ftol). SciPy's own BLAS runs on one thread meanwhile. When this run is one
    stage of a longer fit, `counted_from` iterations came before it and `of` is the whole fit's
    iterations: progress and history count them so.
    """
    last = {}

    def evaluate(flat):
        loss, grad = objective(flat)
        grad = np.asarray(grad, dtype=np.float64)
        last["grad_norm"] = float(np.linalg.norm(grad))
        return float(loss), grad

    history: list[dict] = []
    best = {"score": -1.0, "flat": None, "iteration": 0}
    state = {"iteration": 0, "since_best": 0}
    started = time.perf_counter()

    def callback(intermediate_result):
        state["iteration"] += 1
        it, total = counted_from + state["iteration"], of or max_iter
        elapsed = time.perf_counter() - started
        info = {"iteration": it, "max_iter": total, "loss": float(intermediate_result.fun),
                "grad_norm": last.get("grad_norm"), "seconds": elapsed,
                "eta_seconds": elapsed / state["iteration"] * (total - it)}
        if score is not None and (it % eval_every == 0 or it == total):
            info["val_accuracy"] = accuracy = score(intermediate_result.x)
            if accuracy > best["score"]:
                best.update(score=accuracy, flat=intermediate_result.x.copy(), iteration=it)
                state["since_best"] = 0
            else:
                state["since_best"] += 1
        history.append(info)
        if progress:
            progress(info)
        if patience is not None and state["since_best"] >= patience:
            raise StopIteration

    with single_threaded_scipy_blas():
        result = minimize(evaluate, np.asarray(x0, dtype=np.float64), jac=True, method="L-BFGS-B", callback=callback,
                          options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-8, "maxcor": memory})
    flat, reason, kept = result.x, str(result.message), counted_from + state["iteration"]
    if patience is not None and best["flat"] is not None and state["since_best"] >= patience:
        flat, reason, kept = best["flat"], f"early stop: no better validation accuracy for {patience} checks", \
            best["iteration"]
    return FitResult(flat, state["iteration"], history, reason, time.perf_counter() - started, kept)
