"""Readers for every source format, checksum verification and the raw layer, on small files the tests write."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.io

from nnmodel.data import digests, download, readers
from nnmodel.data import raw as raw_layer
from nnmodel.errors import DataError
from nnmodel.store.layout import Layout
from tests.helpers.data import SHARED_MNIST, idx_bytes, tiny_raw


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
    for key in readers.SPLIT_KEYS:
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert getattr(a, key).dtype == np.uint8


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_roundtrip(tmp_path, compress):
    raw = tiny_raw()
    assert_same(readers.read_local(write_idx_folder(tmp_path / "idx", raw, compress)), raw)


def test_keras_npz(tmp_path):
    raw = tiny_raw()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=raw.train_images, y_train=raw.train_labels,
             x_test=raw.test_images, y_test=raw.test_labels)
    assert_same(readers.read_local(path), raw)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.array([{"evil": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros((1, 28, 28)), y_test=np.zeros(1))
    with pytest.raises(DataError, match="mnist.npz"):
        readers.read_local(path)


def test_original_mat_file(tmp_path):
    raw = tiny_raw(n_train=60000 // 300, n_test=30)
    path = tmp_path / "mnist-original.mat"
    data = np.concatenate([raw.train_images, raw.test_images]).reshape(-1, 784).T  # (784, n)
    label = np.concatenate([raw.train_labels, raw.test_labels]).astype(np.float64).reshape(1, -1)
    scipy.io.savemat(path, {"data": data, "label": label})
    assert_same(readers.read_mat(path, n_train=len(raw.train_labels)), raw)


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
    assert_same(readers.read_local(folder), raw)


def test_wrong_idx_magic_names_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw(), compress=False)
    bad = folder / "train-labels-idx1-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x01" + bad.read_bytes()[4:])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: not an IDX file \(bad magic"):
        readers.read_local(folder)


def test_truncated_gzip_names_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw())
    bad = folder / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-40])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        readers.read_local(folder)


def test_truncated_idx_payload(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", tiny_raw(), compress=False)
    bad = folder / "train-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(DataError, match="header promises"):
        readers.read_local(folder)


def test_wrong_image_shape(tmp_path):
    raw = tiny_raw()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=raw.train_images[:, :27, :], y_train=raw.train_labels,
             x_test=raw.test_images, y_test=raw.test_labels)
    with pytest.raises(DataError, match=r"mnist.npz: images have shape \(200, 27, 28\)"):
        readers.read_local(path)


def test_labels_outside_0_9(tmp_path):
    raw = tiny_raw()
    raw.train_labels[3] = 11
    with pytest.raises(DataError, match=r"label values span 0..11, expected 0..9"):
        readers.read_local(write_idx_folder(tmp_path / "idx", raw))


def test_count_mismatch(tmp_path):
    raw = tiny_raw()
    raw.test_labels = raw.test_labels[:-1]
    with pytest.raises(DataError, match="50 images but 49 labels"):
        readers.read_local(write_idx_folder(tmp_path / "idx", raw))


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "digits.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match=r"digits.txt: unsupported file type '.txt'"):
        readers.read_local(path)


def test_bundled_is_canonical_mnist(mnist_raw):
    record = raw_layer.verify(mnist_raw, "mnist", "bundled")
    assert record["verified"].startswith("canonical MNIST (exact")
    assert record["counts"] == {"train": 60000, "test": 10000}
    assert mnist_raw.train_images.shape == (60000, 28, 28)


def test_reordered_mnist_is_accepted_as_such(mnist_raw):
    order = np.random.default_rng(1).permutation(10000)
    shuffled = readers.RawData(mnist_raw.train_images, mnist_raw.train_labels,
                               mnist_raw.test_images[order], mnist_raw.test_labels[order])
    assert "different order" in raw_layer.verify(shuffled, "mnist", "shuffled")["verified"]


def test_altered_mnist_is_refused(mnist_raw):
    labels = mnist_raw.test_labels.copy()
    labels[0] = (labels[0] + 1) % 10
    altered = readers.RawData(mnist_raw.train_images, mnist_raw.train_labels, mnist_raw.test_images, labels)
    with pytest.raises(DataError, match=r"does not match canonical MNIST \(test_labels differ\).*--dataset-name"):
        raw_layer.verify(altered, "mnist", "altered.npz")


def test_other_dataset_is_recorded_by_name():
    record = raw_layer.verify(tiny_raw(), "fashion-mnist", "fashion.npz")
    assert record["dataset"] == "fashion-mnist" and record["verified"].startswith("not MNIST")


def test_raw_layer_roundtrip_and_tamper_check(tmp_path):
    raw = tiny_raw()
    record = raw_layer.verify(raw, "tiny", "test")
    folder = raw_layer.write_raw(Layout(tmp_path), raw, record)
    back, back_record = raw_layer.read_raw(folder)
    assert_same(back, raw)
    assert back_record == record
    arr = np.load(folder / "test_labels.npy")
    arr[0] = (arr[0] + 1) % 10
    np.save(folder / "test_labels.npy", arr)
    with pytest.raises(DataError, match="test_labels.npy: SHA-256 differs"):
        raw_layer.read_raw(folder)


def test_shared_idx_files_match_pins_when_present():
    if not SHARED_MNIST.is_dir():
        pytest.skip("../shared/data/mnist is not beside this checkout")
    for _, (name, sha) in download.MNIST_GZ_FILES.items():
        assert digests.sha256_file(SHARED_MNIST / name) == sha
    record = raw_layer.verify(readers.read_local(SHARED_MNIST), "mnist", "shared")
    assert record["verified"].startswith("canonical MNIST (exact")
