"""Readers for every source format, and checksum verification, on small files the tests write."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.io

from conftest import tiny_raw
from nnmodel.errors import DataError
from tasks import sources


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_folder(folder, raw, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    names = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
    for key, name in names.items():
        data = idx_bytes(getattr(raw, key))
        if compress:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def assert_same(a, b):
    for key in sources.SPLIT_KEYS:
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert getattr(a, key).dtype == np.uint8


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_roundtrip(tmp_path, compress):
    raw = tiny_raw()
    assert_same(sources.read_local(write_idx_folder(tmp_path / "idx", raw, compress)), raw)


def test_keras_npz(tmp_path):
    raw = tiny_raw()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=raw.train_images, y_train=raw.train_labels,
             x_test=raw.test_images, y_test=raw.test_labels)
    assert_same(sources.read_local(path), raw)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.array([{"evil": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros((1, 28, 28)), y_test=np.zeros(1))
    with pytest.raises(DataError, match="mnist.npz"):
        sources.read_local(path)


def test_original_mat_file(tmp_path):
    raw = tiny_raw(n_train=60000 // 300, n_test=30)
    path = tmp_path / "mnist-original.mat"
    data = np.concatenate([raw.train_images, raw.test_images]).reshape(-1, 784).T  # (784, n)
    label = np.concatenate([raw.train_labels, raw.test_labels]).astype(np.float64).reshape(1, -1)
    scipy.io.savemat(path, {"data": data, "label": label})
    assert_same(sources.read_mat(path, n_train=len(raw.train_labels)), raw)


@pytest.mark.parametrize("header", [True, False])
def test_csv_folder(tmp_path, header):
    raw = tiny_raw()
    folder = tmp_path / "csv"
    folder.mkdir()
    for split in ("train", "test"):
        images, labels = getattr(raw, f"{split}_images"), getattr(raw, f"{split}_labels")
        rows = np.concatenate([labels.reshape(-1, 1), images.reshape(len(images), -1)], axis=1)
        head = "label," + ",".join(f"pixel{i}" for i in range(784)) if header else ""
        np.savetxt(folder / f"mnist_{split}.csv", rows, fmt="%d", delimiter=",", header=head, comments="")
        if not header:  # np.savetxt writes an empty first line for header=""
            text = (folder / f"mnist_{split}.csv").read_text().lstrip("\n")
            (folder / f"mnist_{split}.csv").write_text(text)
    assert_same(sources.read_local(folder), raw)


def test_wrong_idx_magic_names_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw(), compress=False)
    bad = folder / "train-labels-idx1-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x01" + bad.read_bytes()[4:])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: not an IDX file \(bad magic"):
        sources.read_local(folder)


def test_truncated_gzip_names_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw())
    bad = folder / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-40])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        sources.read_local(folder)


def test_truncated_idx_payload(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw(), compress=False)
    bad = folder / "train-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(DataError, match="header promises"):
        sources.read_local(folder)


def test_wrong_image_shape(tmp_path):
    raw = tiny_raw()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=raw.train_images[:, :27, :], y_train=raw.train_labels,
             x_test=raw.test_images, y_test=raw.test_labels)
    with pytest.raises(DataError, match=r"mnist.npz: images have shape \(200, 27, 28\)"):
        sources.read_local(path)


def test_labels_outside_0_9(tmp_path):
    raw = tiny_raw()
    raw.train_labels[3] = 11
    with pytest.raises(DataError, match=r"label values span 0..11, expected 0..9"):
        sources.read_local(write_idx_folder(tmp_path / "idx", raw))


def test_count_mismatch(tmp_path):
    raw = tiny_raw()
    raw.test_labels = raw.test_labels[:-1]
    with pytest.raises(DataError, match="50 images but 49 labels"):
        sources.read_local(write_idx_folder(tmp_path / "idx", raw))


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "digits.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"digits.txt: unsupported file type '.txt'"):
        sources.read_local(path)


def test_bundled_is_canonical_mnist(mnist_raw):
    record = sources.verify(mnist_raw, "mnist", "bundled")
    assert record["verified"].startswith("canonical MNIST (exact")
    assert record["counts"] == {"train": 60000, "test": 10000}
    assert mnist_raw.train_images.shape == (60000, 28, 28)


def test_reordered_mnist_is_accepted_as_such(mnist_raw):
    order = np.random.default_rng(1).permutation(10000)
    shuffled = sources.RawData(mnist_raw.train_images, mnist_raw.train_labels,
                               mnist_raw.test_images[order], mnist_raw.test_labels[order])
    assert "different order" in sources.verify(shuffled, "mnist", "shuffled")["verified"]


def test_altered_mnist_is_refused(mnist_raw):
    labels = mnist_raw.test_labels.copy()
    labels[0] = (labels[0] + 1) % 10
    altered = sources.RawData(mnist_raw.train_images, mnist_raw.train_labels, mnist_raw.test_images, labels)
    with pytest.raises(DataError, match=r"does not match canonical MNIST \(test_labels differ\).*--dataset-name"):
        sources.verify(altered, "mnist", "altered.npz")


def test_other_dataset_is_recorded_by_name():
    record = sources.verify(tiny_raw(), "fashion-mnist", "fashion.npz")
    assert record["dataset"] == "fashion-mnist" and record["verified"].startswith("not MNIST")


def test_raw_layer_roundtrip_and_tamper_check(tmp_path):
    raw = tiny_raw()
    record = sources.verify(raw, "tiny", "test")
    folder = sources.write_raw(raw, record, tmp_path)
    back, back_record = sources.read_raw(folder)
    assert_same(back, raw)
    assert back_record == record
    arr = np.load(folder / "test_labels.npy")
    arr[0] = (arr[0] + 1) % 10
    np.save(folder / "test_labels.npy", arr)
    with pytest.raises(DataError, match="test_labels.npy: SHA-256 differs"):
        sources.read_raw(folder)


def test_shared_idx_files_match_pins_when_present():
    from conftest import SHARED_MNIST

    if not SHARED_MNIST.is_dir():
        pytest.skip("../shared/data/mnist is not beside this checkout")
    for _, (name, sha) in sources.MNIST_GZ_FILES.items():
        assert sources.sha256_file(SHARED_MNIST / name) == sha
    record = sources.verify(sources.read_local(SHARED_MNIST), "mnist", "shared")
    assert record["verified"].startswith("canonical MNIST (exact")
