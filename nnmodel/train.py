"""Fitting a Network with SciPy's L-BFGS-B: presets, progress callback, early stopping, augmentation."""
from __future__ import annotations

import contextlib
import time

import numpy as np
from scipy.optimize import minimize

from nnmodel.network import cost_and_grad, init_params, pack, unpack
from nnmodel.sparse_input import SparseRows, worth_it

# Recipes. "default" is the classic 784-100-10 / 70 iterations / lambda 0.1 with a softmax output,
# a longer L-BFGS memory and one jittered copy of the training images (BENCHMARKS.md compares it with
# the original recipe; the separate effect of each change was tried during development, not recorded); "original" is the original project's recipe (per-class sigmoid output, no copies);
# "best" trades time for accuracy; "quick" is a small smoke-test model.
PRESETS = {
    "default": {"hidden_sizes": [100], "hidden": "sigmoid", "output": "softmax", "lam": 0.1, "maxiter": 70,
                "memory": 50, "jitter_copies": 1, "init_scale": 0.05},
    "original": {"hidden_sizes": [100], "hidden": "sigmoid", "output": "sigmoid", "lam": 0.1, "maxiter": 70,
                 "memory": 10, "jitter_copies": 0, "init_scale": 0.12},
    "best": {"hidden_sizes": [300], "hidden": "sigmoid", "output": "softmax", "lam": 1.0, "maxiter": 400,
             "memory": 50, "jitter_copies": 1, "init_scale": 0.05},
    "quick": {"hidden_sizes": [32], "hidden": "sigmoid", "output": "softmax", "lam": 0.1, "maxiter": 15,
              "memory": 10, "jitter_copies": 0, "init_scale": 0.05},
}


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
    scipy_pools = [lib for lib in controller.lib_controllers if "scipy" in str(lib.filepath)]
    saved = [lib.num_threads for lib in scipy_pools]
    for lib in scipy_pools:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(scipy_pools, saved):
            lib.set_num_threads(n)


OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (n, h, w) moved dy rows down and dx columns right, zero-filled (a new array)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        images[:, max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


def jittered_copies(X: np.ndarray, y: np.ndarray, copies: int, seed: int = 0, side: int = 28):
    """X (m, side*side) followed by `copies` copies of it, each image shifted one pixel in a random
    one of the 8 directions (seeded); labels repeated to match. copies=0 returns X, y unchanged."""
    if copies <= 0:
        return X, y
    rng = np.random.default_rng(seed)
    images = X.reshape(-1, side, side)
    parts = [X]
    for _ in range(copies):
        choice = rng.integers(0, len(OFFSETS), len(X))
        moved = np.empty_like(images)
        for k, (dy, dx) in enumerate(OFFSETS):
            rows = np.flatnonzero(choice == k)
            moved[rows] = shift_images(images[rows], dy, dx)
        parts.append(moved.reshape(len(X), -1))
    return np.concatenate(parts), np.tile(y, copies + 1)


def one_hot(y: np.ndarray, n_classes: int, dtype) -> np.ndarray:
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), np.asarray(y, dtype=np.intp)] = 1
    return Y


def fold_centering(params, mean: np.ndarray):
    """Parameters trained on X - mean, rewritten to take X: b1 <- b1 - W1 @ mean (W unchanged)."""
    (W, b), rest = params[0], params[1:]
    return [(W, b - W @ mean.astype(W.dtype)), *rest]


def fit_lbfgsb(net, X, y, maxiter: int = 70, tol: float = 1e-10, X_val=None, y_val=None,
               eval_every: int = 10, patience: int | None = None, progress=None, init=None,
               memory: int = 10, center: bool = False, sparse: bool | None = None):
    """Fit `net` on X (m, n_inputs) in [0, 1], y (m,) by minimising its cost with L-BFGS-B.

    progress(info) is called every iteration with iteration, maxiter, loss, grad_norm, seconds,
    eta_seconds and (every `eval_every` iterations, if validation data is given) val_accuracy.
    With `patience`, training stops after that many evaluations without a better validation
    accuracy and keeps the best parameters seen. `init` continues from given params. `memory` is
    L-BFGS-B's number of stored corrections (maxcor). `sparse` computes the input-layer products
    from sparse row blocks in parallel (None: when X is mostly zeros; same results, faster).
    Sets net.params_, net.n_iter_, net.history_, net.stop_reason_; returns net.
    """
    dtype = np.dtype(net.dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    # Optionally optimise on mean-centred inputs; the first bias absorbs the mean at the end, so the
    # cost is unchanged and the fitted network takes raw [0, 1] inputs. It fits the training set
    # faster but generalised worse in trials during development (not recorded), hence off by default.
    mean = X.mean(axis=0) if center else np.zeros(X.shape[1], dtype=dtype)
    if center:
        X = X - mean

    def to_params(flat):
        return fold_centering(unpack(flat, sizes, dtype), mean)
    Y = one_hot(y, net.n_classes, dtype)
    net.sparse_inputs_ = (not center) and (worth_it(X) if sparse is None else bool(sparse))
    X = SparseRows(X) if net.sparse_inputs_ else X
    sizes = net.sizes
    last = {}

    def objective(flat):
        params = unpack(flat, sizes, dtype)
        cost, grads = cost_and_grad(params, X, Y, net.lam, net.hidden, net.output)
        grad = pack(grads)
        last["grad_norm"] = float(np.linalg.norm(grad))
        return cost, grad

    history = []
    best = {"acc": -1.0, "flat": None, "iteration": 0}
    started = time.perf_counter()
    state = {"iteration": 0, "since_best": 0}

    def callback(intermediate_result):
        state["iteration"] += 1
        it = state["iteration"]
        elapsed = time.perf_counter() - started
        info = {"iteration": it, "maxiter": maxiter, "loss": float(intermediate_result.fun),
                "grad_norm": last.get("grad_norm"), "seconds": elapsed,
                "eta_seconds": elapsed / it * (maxiter - it)}
        if X_val is not None and (it % eval_every == 0 or it == maxiter):
            net.params_ = to_params(intermediate_result.x)
            acc = net.score(X_val, y_val)
            info["val_accuracy"] = acc
            if acc > best["acc"]:
                best.update(acc=acc, flat=intermediate_result.x.copy(), iteration=it)
                state["since_best"] = 0
            else:
                state["since_best"] += 1
        history.append(info)
        if progress:
            progress(info)
        if patience is not None and state["since_best"] >= patience:
            raise StopIteration

    x0 = pack(fold_centering(init, -mean) if init is not None else init_params(sizes, net.seed, dtype, net.init_scale))
    try:
        with single_threaded_scipy_blas():
            result = minimize(objective, x0, jac=True, method="L-BFGS-B", callback=callback,
                              options={"maxiter": maxiter, "ftol": tol, "gtol": 1e-8, "maxcor": memory})
    finally:
        if isinstance(X, SparseRows):
            X.close()
    flat = result.x
    net.stop_reason_ = str(result.message)
    if patience is not None and best["flat"] is not None and state["since_best"] >= patience:
        flat = best["flat"]
        net.stop_reason_ = f"early stop: no better validation accuracy for {patience} evaluations"
    net.params_ = [(W.copy(), b.copy()) for W, b in to_params(flat)]
    net.n_iter_ = state["iteration"]
    net.history_ = history
    net.train_seconds_ = time.perf_counter() - started
    return net
