"""Model files: `model.npz` (named arrays only, never pickle) beside `model.json`.

model.json holds the format version, the model's family and hyperparameters, the SHA-256 of
model.npz, and any metadata the caller adds (recipe, data digests, metrics...). It is checked against
a schema (a known family, valid hyperparameters) before any array is read; then each array's header
(name, shape, type) is checked against what the family expects for those hyperparameters before its
data is read, so a tampered file cannot make the reader allocate gigabytes. A file whose digest,
array names, shapes or values disagree is refused. Every refusal is a ModelFileError naming the file.

Formats: digits-model/3 records "family" and "params"; /1 and /2 (MLPs only, their "network"
parameters) still load, as the MLP family (/1 named the activation "hidden"; /2 also kept the
distortion settings that the recipe now holds).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.errors import ModelFileError
from nnmodel.model.base import Model
from nnmodel.model.families import FAMILIES, family_class

FORMAT = "digits-model/3"
OLD_FORMATS = ("digits-model/1", "digits-model/2")   # MLPs, with "network" parameters
READABLE_FORMATS = (*OLD_FORMATS, FORMAT)
MOVED_TO_THE_RECIPE = ("copies", "distortions")      # /2 networks kept these; the data layer makes copies now
NPZ, JSON = "model.npz", "model.json"
MAX_JSON_BYTES = 8 << 20
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def save_model(model: Model, folder: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write model.npz then model.json (each atomically) into `folder`; returns the folder."""
    folder = Path(folder)
    data = npz_bytes(model.to_arrays())
    atomic.write_bytes(folder / NPZ, data)
    record = {**(metadata or {}), "format": FORMAT, "family": model.family, "params": model.get_params(),
              "npz_sha256": hashlib.sha256(data).hexdigest()}
    atomic.write_json(folder / JSON, record)
    return folder


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an .npz (what np.savez writes, uncompressed), with every member dated 1980-01-01:
    the same arrays always give the same bytes, so the same weights have the same SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buffer.getvalue()


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
    """The schema of model.json: a JSON object with a known format and family, valid hyperparameters
    and a SHA-256; returns it with "family" and the complete "params" (older formats upgraded)."""
    if not isinstance(record, dict):
        raise ModelFileError(f"{path}: model metadata is not a JSON object")
    if record.get("format") not in READABLE_FORMATS:
        raise ModelFileError(f"{path}: format {record.get('format')!r} is not one of {', '.join(READABLE_FORMATS)}")
    if record["format"] in OLD_FORMATS:
        record = upgraded(record, path)
    family = record.get("family")
    if family not in FAMILIES:
        raise ModelFileError(f"{path}: unknown model family {family!r} (this version reads {', '.join(FAMILIES)})")
    params = record.get("params")
    if not isinstance(params, dict):
        raise ModelFileError(f"{path}: 'params' is not an object of hyperparameters")
    cls = family_class(family)
    try:
        params = cls.check_params({**cls.defaults(), **params})
    except ValueError as exc:
        raise ModelFileError(f"{path}: bad {family} description ({exc})") from None
    if not isinstance(record.get("npz_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", record["npz_sha256"]):
        raise ModelFileError(f"{path}: 'npz_sha256' is not a SHA-256 hex digest")
    return {**record, "params": params}


def upgraded(record: dict, path: Path) -> dict:
    """A /1 or /2 record (an MLP's "network" parameters) in the form of the current format."""
    network = record.get("network")
    if not isinstance(network, dict):
        raise ModelFileError(f"{path}: 'network' is not an object of hyperparameters")
    params = {k: v for k, v in network.items() if k not in MOVED_TO_THE_RECIPE}
    if record["format"] == "digits-model/1" and "hidden" in params:
        params["activation"] = params.pop("hidden")
    return {k: v for k, v in record.items() if k != "network"} | {"family": "mlp", "params": params}


def load_model(folder: str | os.PathLike) -> tuple[Model, dict]:
    """Load (model, metadata) from a model folder, checking schema, digest, names, shapes and values."""
    folder = Path(folder)
    record = read_metadata(folder)
    npz_path = folder / NPZ
    try:
        data = npz_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{npz_path}: cannot read model weights ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != record["npz_sha256"]:
        raise ModelFileError(f"{npz_path}: SHA-256 does not match {JSON} (tampered or mismatched file)")
    model = family_class(record["family"])(**record["params"])
    try:
        arrays = read_arrays(data, model.expected_arrays())
        model.with_arrays(arrays)
    except ValueError as exc:
        raise ModelFileError(f"{npz_path}: {exc}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{npz_path}: unreadable weights ({exc})") from None
    return model, record


def read_arrays(data: bytes, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The arrays of an .npz (bytes), each read only after its header (name, shape, floating point
    type) matched `expected`; ValueError says what did not."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = {member[:-4]: member for member in archive.namelist() if member.endswith(".npy")}
        if set(names) != set(expected) or len(names) != len(archive.namelist()):
            raise ValueError(f"{len(archive.namelist())} arrays {sorted(names)[:8]}, expected {sorted(expected)}")
        arrays = {}
        for name, shape in expected.items():
            with archive.open(names[name]) as fh:
                read_header = HEADER_READERS.get(np.lib.format.read_magic(fh))
                if read_header is None:
                    raise ValueError(f"array {name} is in a .npy version this reader does not take")
                found, _, dtype = read_header(fh)
                if found != tuple(shape):
                    raise ValueError(f"array {name} is {found}, expected {tuple(shape)}")
                if dtype.kind != "f":
                    raise ValueError(f"array {name} is {dtype}, not floating point")
            with archive.open(names[name]) as fh:
                arrays[name] = np.lib.format.read_array(fh, allow_pickle=False)
    return arrays
