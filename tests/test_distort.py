"""Distorted copies of training images: labels kept, values in range, seeded and deterministic."""
from __future__ import annotations

import numpy as np

from nnmodel.distort import shift_images, with_distorted_copies


def test_shift_images_moves_pixels_and_zero_fills():
    img = np.zeros((1, 4, 4), dtype=np.uint8)
    img[0, 0, 0] = 9
    img[0, 3, 3] = 5
    moved = shift_images(img, 1, 1)
    assert moved[0, 1, 1] == 9 and moved.sum() == 9  # the corner pixel fell off the edge


def test_shifted_copies_are_one_pixel_shifts(mnist_raw):
    X = mnist_raw.train_images[:200].reshape(-1, 784).astype(np.float32) / 255
    y = mnist_raw.train_labels[:200]
    Xa, ya = with_distorted_copies(X, y, copies=2, kinds=("shift",), seed=4)
    assert Xa.shape == (600, 784) and np.array_equal(ya, np.tile(y, 3))
    np.testing.assert_array_equal(Xa[:200], X)
    for i in range(200, 600):
        original = X[i % 200].reshape(1, 28, 28)
        assert any(np.array_equal(shift_images(original, dy, dx)[0].ravel(), Xa[i])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    np.testing.assert_array_equal(with_distorted_copies(X, y, 2, ("shift",), seed=4)[0], Xa)
    assert with_distorted_copies(X, y, 0)[0] is X
