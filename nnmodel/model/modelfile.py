"""Model files: `model.npz` (arrays only, loaded with allow_pickle=False) beside `model.json`.

model.json holds the format, the network's hyperparameters (`Network.get_params()`), the SHA-256 of
model.npz, and any metadata the caller adds (recipe, data digests, metrics...). It is checked against
a schema (types, allowed values, sizes within limits) before any array is read; a file whose digest,
array names or shapes disagree with it is refused. Every refusal is a ModelFileError naming the file.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from nnmodel.errors import ModelFileError
from nnmodel.model.mlp import Network, check_params
from nnmodel.store import atomic

FORMAT = "digits-model/2"
READABLE_FORMATS = ("digits-model/1", FORMAT)   # /1 named the activation "hidden"
NPZ, JSON = "model.npz", "model.json"
MAX_JSON_BYTES = 8 << 20


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
    record = {**(metadata or {}), "format": FORMAT, "network": net.get_params(),
              "npz_sha256": hashlib.sha256(data).hexdigest()}
    atomic.write_json(folder / JSON, record)
    return folder


def read_metadata(folder: str | os.PathLike) -> dict:
    """model.json of a model folder, checked against the schema; ModelFileError names the file."""
    path = Path(folder) / JSON
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no model metadata (not a model folder?)") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: unreadable model metadata ({exc.strerror or exc})") from None
    if len(text) > MAX_JSON_BYTES:
        raise ModelFileError(f"{path}: over {MAX_JSON_BYTES >> 20} MB, not model metadata")
    try:
        record = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    return check_record(record, path)


def check_record(record, path: Path) -> dict:
    """The schema of model.json: a JSON object with a known format, valid hyperparameters and a
    SHA-256; returns it with the hyperparameters complete (older formats upgraded)."""
    if not isinstance(record, dict):
        raise ModelFileError(f"{path}: model metadata is not a JSON object")
    if record.get("format") not in READABLE_FORMATS:
        raise ModelFileError(f"{path}: format {record.get('format')!r} is not one of {', '.join(READABLE_FORMATS)}")
    network = record.get("network")
    if not isinstance(network, dict):
        raise ModelFileError(f"{path}: 'network' is not an object of hyperparameters")
    network = dict(network)
    if record["format"] == "digits-model/1" and "hidden" in network:
        network["activation"] = network.pop("hidden")
    unknown = set(network) - set(Network().get_params())
    if unknown:
        raise ModelFileError(f"{path}: unknown network parameter {sorted(unknown)[0]!r}")
    try:
        params = check_params({**Network().get_params(), **network})
    except ValueError as exc:
        raise ModelFileError(f"{path}: bad network description ({exc})") from None
    if not isinstance(record.get("npz_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", record["npz_sha256"]):
        raise ModelFileError(f"{path}: 'npz_sha256' is not a SHA-256 hex digest")
    return {**record, "network": params}


def load_model(folder: str | os.PathLike) -> tuple[Network, dict]:
    """Load (network, metadata) from a model folder, checking schema, digest, names, shapes and values."""
    folder = Path(folder)
    record = read_metadata(folder)
    npz_path = folder / NPZ
    try:
        data = npz_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{npz_path}: cannot read model weights ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != record["npz_sha256"]:
        raise ModelFileError(f"{npz_path}: SHA-256 does not match {JSON} (tampered or mismatched file)")
    net = Network(**record["network"])
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{npz_path}: unreadable weights ({exc})") from None
    params = []
    sizes = net.sizes
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        W, b = arrays.get(f"W{i}"), arrays.get(f"b{i}")
        if W is None or b is None or W.shape != (n_out, n_in) or b.shape != (n_out,):
            raise ModelFileError(f"{npz_path}: layer {i} weights do not match the {'-'.join(map(str, sizes))} network")
        if W.dtype.kind != "f" or b.dtype.kind != "f":
            raise ModelFileError(f"{npz_path}: layer {i} weights are {W.dtype}/{b.dtype}, not floating point")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ModelFileError(f"{npz_path}: layer {i} holds non-finite weights")
        params.append((W.astype(net.dtype), b.astype(net.dtype)))
    if len(arrays) != 2 * len(params):
        raise ModelFileError(f"{npz_path}: {len(arrays)} arrays, expected {2 * len(params)}")
    net.params_ = params
    return net, record
