"""The distortion layer: digest-named, cached, copies of the training split only; and distorted
training beats plain training on distorted digits it has never seen."""
from __future__ import annotations

import numpy as np
import pytest

from nnmodel.data import distorted, splits
from nnmodel.data import raw as raw_layer
from nnmodel.model.mlp import MLP
from nnmodel.store.layout import Layout
from tests.helpers.data import tiny_raw


def quiet(message):
    pass


@pytest.fixture
def data_dir(tmp_path):
    layout = Layout(tmp_path)
    raw = tiny_raw(n_train=300, n_test=40)
    raw_dir = raw_layer.write_raw(layout, raw, raw_layer.verify(raw, "tiny", "test"))
    return layout, splits.prepare_data(layout, raw_dir, validation_size=50, log=quiet)


def test_the_layer_holds_the_copies_of_the_training_split_only(data_dir):
    layout, folder = data_dir
    layer = distorted.distort_training_split(layout, folder, [["affine", "stroke"]] * 2, seed=3, log=quiet)
    assert layer.parent == layout.data and layer.name.startswith(folder.name + "+distorted-")
    assert sorted(p.name for p in layer.iterdir()) == ["manifest.json", "train.parquet"]
    pixels, labels, index = splits.read_split_uint8(folder / "train.parquet", with_index=True)
    copies, copy_labels, copy_index = splits.read_split_uint8(layer / "train.parquet", with_index=True)
    assert len(copies) == 2 * len(pixels) == layout.manifest(layer)["count"]
    assert np.array_equal(copy_labels, np.tile(labels, 2)) and np.array_equal(copy_index, np.tile(index, 2))
    assert not np.array_equal(copies[: len(pixels)], pixels)
    X, y = distorted.training_data(folder, layer)
    assert X.shape == (750, 784) and X.dtype == np.float32 and np.array_equal(y[:250], labels)
    np.testing.assert_array_equal(np.rint(X[250:] * 255), copies)
    manifest = layout.manifest(layer)
    assert manifest["kinds"] == ["affine", "stroke"] and manifest["seed"] == 3 and manifest["copies"] == 2
    assert manifest["settings"]["rotation"] > 0 and manifest["base_data_dir"] == str(folder)


def test_the_layer_is_a_cache_hit_and_any_change_is_a_new_layer(data_dir):
    layout, folder = data_dir
    layer = distorted.distort_training_split(layout, folder, [["elastic"]], seed=0, log=quiet)
    stamp = (layer / "train.parquet").stat().st_mtime_ns
    said = []
    assert distorted.distort_training_split(layout, folder, [["elastic"]], seed=0, log=said.append) == layer
    assert (layer / "train.parquet").stat().st_mtime_ns == stamp and "cache hit" in said[0]
    others = {distorted.distort_training_split(layout, folder, *args, log=quiet)
              for args in [([["elastic"]] * 2, 0), ([["elastic"]], 1), ([["affine"]], 0), ([["lowres"]], 0),
                           ([["elastic"], ["affine"]], 0)]}
    assert layer not in others and len(others) == 5
    assert distorted.distort_training_split(layout, folder, [], log=quiet) is None
    assert distorted.distort_training_split(layout, folder, [[]], log=quiet) is None


def test_copies_in_other_hands_are_one_per_spec_and_in_the_mnist_form(data_dir):
    layout, folder = data_dir
    specs = [["lowres"], ["style", "affine"], ["mouse", "slant"]]
    layer = distorted.distort_training_split(layout, folder, specs, seed=2, log=quiet)
    manifest = layout.manifest(layer)
    assert manifest["copy_kinds"] == specs and manifest["hand_settings"]["lowres_sides"] == [8, 16]
    pixels, labels = splits.read_split_uint8(folder / "train.parquet")
    copies, copy_labels = splits.read_split_uint8(layer / "train.parquet")
    assert len(copies) == 3 * len(pixels) and np.array_equal(copy_labels, np.tile(labels, 3))
    n = len(pixels)
    redrawn = np.concatenate([copies[:n], copies[2 * n:]])  # the copies in other hands (not the deformed one)
    images = redrawn.reshape(-1, 28, 28).astype(np.float32) / 255
    ink = images > 0.25
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    heights = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    widths = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    assert (np.maximum(heights, widths) <= 21).all()  # refitted into the 20x20 box, as preprocessing does
    assert not np.array_equal(copies[: len(pixels)], pixels)


@pytest.mark.slow  # trains twice; the quick loop keeps under a minute
def test_distorted_training_reads_distorted_digits_better(mnist_raw):
    """The same small network and iterations, with and without two distorted copies of each image:
    on distorted validation digits it has never seen, the distorted training wins."""
    from nnmodel.images.distort import distorted_copies

    kinds = ("affine", "elastic", "stroke", "blur")
    X = mnist_raw.train_images[:3000].reshape(-1, 784).astype(np.float32) / 255
    y = mnist_raw.train_labels[:3000]
    held_out = distorted_copies(mnist_raw.train_images[50000:51000], 1, kinds, seed=99)
    Xh, yh = held_out.reshape(-1, 784).astype(np.float32) / 255, mnist_raw.train_labels[50000:51000]
    plain = MLP(hidden_sizes=(64,), max_iter=60).fit(X, y)
    copies = distorted_copies(mnist_raw.train_images[:3000], 2, kinds, seed=0)
    X_fit = np.concatenate([X, copies.reshape(-1, 784).astype(np.float32) / 255])
    robust = MLP(hidden_sizes=(64,), max_iter=60).fit(X_fit, np.tile(y, 3))
    assert robust.n_examples_ == 9000
    assert robust.score(Xh, yh) > plain.score(Xh, yh) + 0.02, (robust.score(Xh, yh), plain.score(Xh, yh))
