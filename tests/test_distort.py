"""Distorted copies of training images: labels kept, values in range, seeded and deterministic,
smooth elastic fields, every kind doing what it says."""
from __future__ import annotations

import numpy as np
import pytest

from nnmodel.images import distort
from nnmodel.images.distort import distorted_copies, shift_images

ALL = ("style", "affine", "elastic", "stroke", "blur")


@pytest.fixture(scope="module")
def digits(mnist_raw):
    return mnist_raw.train_images[:600]


@pytest.fixture(scope="module")
def labels(mnist_raw):
    return mnist_raw.train_labels[:600]


def test_shift_images_moves_pixels_and_zero_fills():
    img = np.zeros((1, 4, 4), dtype=np.uint8)
    img[0, 0, 0] = 9
    img[0, 3, 3] = 5
    moved = shift_images(img, 1, 1)
    assert moved[0, 1, 1] == 9 and moved.sum() == 9  # the corner pixel fell off the edge


def test_shifted_copies_are_one_pixel_shifts(mnist_raw):
    images, y = mnist_raw.train_images[:200], mnist_raw.train_labels[:200]
    copies = distorted_copies(images, 2, ("shift",), seed=4, labels=y)
    assert copies.shape == (400, 28, 28) and copies.dtype == np.uint8
    for i in range(400):
        original = images[i % 200][None]
        assert any(np.array_equal(shift_images(original, dy, dx)[0], copies[i])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    np.testing.assert_array_equal(distorted_copies(images, 2, ("shift",), seed=4, labels=y), copies)


def test_copies_keep_shape_and_range_and_differ_from_each_other(mnist_raw):
    images, y = mnist_raw.train_images[:300], mnist_raw.train_labels[:300]
    copies = distorted_copies(images, 3, ALL, seed=1, labels=y)
    assert copies.shape == (900, 28, 28) and copies.dtype == np.uint8
    floats = distorted_copies(images.astype(np.float32) / 255, 1, ALL, seed=1, labels=y)
    assert floats.dtype == np.float32 and floats.min() >= 0 and floats.max() <= 1
    assert not np.array_equal(copies[:300], images) and not np.array_equal(copies[:300], copies[300:600])


@pytest.mark.parametrize("kinds", [ALL, ("affine",), ("elastic",), ("stroke",), ("blur",), ("style",),
                                   ("shift", "stroke")])
def test_same_seed_same_bytes_whatever_the_threads_and_another_seed_differs(digits, labels, kinds):
    one = distorted_copies(digits, 2, kinds, seed=7, threads=1, labels=labels)
    two = distorted_copies(digits, 2, kinds, seed=7, threads=2, labels=labels)
    assert one.dtype == np.uint8 and one.shape == (1200, 28, 28)
    assert one.tobytes() == two.tobytes()
    assert not np.array_equal(one, distorted_copies(digits, 2, kinds, seed=8, labels=labels))


def test_the_ink_moves_but_stays_a_digit(digits):
    """Geometric copies move ink around (most pixels change) but keep about the same amount of it
    and stay correlated with the original."""
    out = distorted_copies(digits, 1, ("affine", "elastic"), seed=0).astype(np.float32)
    src = digits.astype(np.float32)
    ink_ratio = out.sum(axis=(1, 2)) / src.sum(axis=(1, 2))
    assert 0.6 < np.median(ink_ratio) < 1.4
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(src, out)]
    assert 0.2 < np.median(corr) < 0.97


def test_stroke_copies_are_thicker_or_thinner_in_place(digits):
    out = distorted_copies(digits, 1, ("stroke",), seed=0).astype(np.int32)
    src = digits.astype(np.int32)
    visible = np.where(src > distort.FAINT * 255, src, 0)  # faint pixels are dropped from every copy
    ink = (out - visible).sum(axis=(1, 2))
    half = 128  # within each block of 256, the first half grows and the second half thins
    assert (ink[:half] >= 0).all() and (ink[half:256] <= 0).all()
    p = np.pad(src, ((0, 0), (1, 1), (1, 1)))
    reach = np.maximum.reduce([p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]])
    assert not ((out > 0) & (reach == 0)).any()  # new ink only next to old ink
    moved_centre = np.abs(np.argwhere(out[0] > 128).mean(axis=0) - np.argwhere(src[0] > 128).mean(axis=0))
    assert (moved_centre < 1).all()


def test_blurred_copies_are_softer_but_as_bright(digits):
    out = distorted_copies(digits, 1, ("blur",), seed=0).astype(np.float32)
    src = digits.astype(np.float32)
    blurred = np.zeros(len(src), bool)  # the first half of each block of BLOCK images
    for start in range(0, len(src), distort.BLOCK):
        size = min(distort.BLOCK, len(src) - start)
        blurred[start: start + (size + 1) // 2] = True
    edges = lambda a: np.abs(np.diff(a, axis=2)).sum(axis=(1, 2))  # noqa: E731
    assert (edges(out[blurred]) < edges(src[blurred])).mean() > 0.95
    assert np.abs(out.max(axis=(1, 2)) - src.max(axis=(1, 2))).max() <= 0.05 * 255  # contrast restored
    visible = np.where(src > distort.FAINT * 255, src, 0)
    assert np.array_equal(out[~blurred], visible[~blurred])


def test_elastic_fields_are_smooth():
    rng = np.random.default_rng(0)
    fields = distort.smooth_fields(rng.uniform(-1, 1, (50, 7, 7)).astype(np.float32)) * distort.ELASTIC_ALPHA
    step = np.abs(np.diff(fields, axis=2)).mean()
    assert 0.3 < np.abs(fields).mean() < 3           # pixels of displacement
    assert step < 0.25 * np.abs(fields).mean()       # neighbours move together
    white = rng.uniform(-1, 1, (50, 28, 28)) * distort.ELASTIC_ALPHA * 0.04
    assert step < np.abs(np.diff(white, axis=2)).mean() / 4


def test_styles_add_a_flag_or_base_to_ones_and_a_bar_to_sevens_only(digits, labels):
    out = distorted_copies(digits, 1, ("style",), seed=0, labels=labels).astype(np.int32)
    src = np.where(digits > distort.FAINT * 255, digits, 0).astype(np.int32)
    added = (out - src).clip(0).sum(axis=(1, 2))
    assert (out >= src).all()                                   # strokes are only added
    others = ~np.isin(labels, (1, 7))
    assert (added[others] == 0).all()
    ones, sevens = added[labels == 1], added[labels == 7]
    styled_ones = 1 - (1 - distort.FLAG[0]) * (1 - distort.BASE[0])  # a flag, a base or both
    assert abs((ones > 255).mean() - styled_ones) < 0.1 and abs((sevens > 255).mean() - distort.CROSS[0]) < 0.15
    flagged = np.flatnonzero((labels == 1) & (added > 255))
    new = (out - src).clip(0)[flagged]
    rows = np.mgrid[0:28, 0:28][0]
    old_row = (src[flagged] * rows).sum(axis=(1, 2)) / src[flagged].sum(axis=(1, 2))
    ends = np.abs(rows[None] - old_row[:, None, None]) > 3          # a flag on top or a base below
    assert np.median((new * ends).sum(axis=(1, 2)) / new.sum(axis=(1, 2))) > 0.8
    with pytest.raises(ValueError, match="needs the images' labels"):
        distorted_copies(digits, 1, ("style",))


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown distortion 'smudge'"):
        distorted_copies(np.zeros((2, 28, 28), np.uint8), 1, ("smudge",))
