"""Model files: `model.npz` (arrays only, loaded with allow_pickle=False) beside `model.json`.

model.json holds the format version, the network's parameters (sizes, activations, lambda, dtype),
the SHA-256 of model.npz, and any metadata the caller adds (recipe, data digests, metrics...).
A file whose digest, array names or shapes disagree with model.json is refused with ModelFileError.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.errors import ModelFileError
from nnmodel.network import Network

FORMAT = "digits-model/1"
NPZ, JSON = "model.npz", "model.json"


def save_model(net: Network, folder: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write model.npz then model.json (each atomically) into `folder`; returns the folder."""
    folder = Path(folder)
    buffer = io.BytesIO()
    arrays = {}
    for i, (W, b) in enumerate(net.params_):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    atomic.write_bytes(folder / NPZ, data)
    record = {"format": FORMAT, "network": net.get_params(), "npz_sha256": hashlib.sha256(data).hexdigest(),
              **(metadata or {})}
    atomic.write_json(folder / JSON, record)
    return folder


def read_metadata(folder: str | os.PathLike) -> dict:
    """model.json of a model folder, or ModelFileError naming the file."""
    path = Path(folder) / JSON
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no model metadata (not a model folder?)") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: unreadable model metadata ({exc})") from None
    if record.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format {record.get('format')!r} is not {FORMAT!r}")
    return record


def load_model(folder: str | os.PathLike) -> tuple[Network, dict]:
    """Load (network, metadata) from a model folder, checking digest, names, shapes and values."""
    folder = Path(folder)
    record = read_metadata(folder)
    npz_path = folder / NPZ
    try:
        data = npz_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{npz_path}: cannot read model weights ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != record.get("npz_sha256"):
        raise ModelFileError(f"{npz_path}: SHA-256 does not match {JSON} (tampered or mismatched file)")
    try:
        net = Network(**record["network"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{folder / JSON}: bad network description ({exc})") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{npz_path}: unreadable weights ({exc})") from None
    params = []
    sizes = net.sizes
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W, b = arrays.get(f"W{i}"), arrays.get(f"b{i}")
        if W is None or b is None or W.shape != (n_out, n_in) or b.shape != (n_out,):
            raise ModelFileError(f"{npz_path}: layer {i} weights do not match the {'-'.join(map(str, sizes))} network")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ModelFileError(f"{npz_path}: layer {i} holds non-finite weights")
        params.append((W.astype(net.dtype), b.astype(net.dtype)))
    if len(arrays) != 2 * len(params):
        raise ModelFileError(f"{npz_path}: {len(arrays)} arrays, expected {2 * len(params)}")
    net.params_ = params
    return net, record
