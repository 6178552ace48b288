"""Copies in other hands: each redraws digits and brings them back to the MNIST form, seeded; the
skeleton they (and the drawn score) start from is Zhang-Suen's, checked against a plain pixel loop."""
from __future__ import annotations

import numpy as np
import pytest

from nnmodel.images import hands
from nnmodel.images.strokes import NEIGHBOURS, skeleton


@pytest.fixture(scope="module")
def digits(mnist_raw):
    return mnist_raw.train_images[:64].astype(np.float32) / 255


@pytest.mark.parametrize("hand", hands.HANDS)
def test_each_hand_redraws_in_the_mnist_form_and_is_seeded(digits, hand):
    out = hands.redraw(digits, hand, np.random.default_rng(5))
    assert out.shape == (64, 28, 28) and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    ink = out > 0.25
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    heights = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    widths = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    assert (np.maximum(heights, widths) <= 21).all() and (np.maximum(heights, widths) >= 18).mean() > 0.9
    np.testing.assert_array_equal(hands.redraw(digits, hand, np.random.default_rng(5)), out)
    assert not np.array_equal(hands.redraw(digits, hand, np.random.default_rng(6)), out)
    assert np.abs(out - digits).mean() > 0.02  # a real redrawing, not the digit as it was


def test_low_resolution_scans_are_coarse_and_mouse_strokes_are_even(digits):
    scans = hands._lowres(digits, np.random.default_rng(1))  # before the preprocessing re-fits them
    sides = np.array([scan.shape[0] for scan in scans])
    small = sides <= hands.LOWRES_SIDES[1] + 4   # 8-16 pixels and a margin of 1 or 2; else blown up 4x
    assert small.any() and (~small).any() and set(sides[~small] % 4) == {0}
    assert (sides[small] >= hands.LOWRES_SIDES[0] + 2).all()
    black_and_white = [set(np.unique(scan)) <= {0.0, 1.0} for scan, s in zip(scans, small) if s]
    assert 0.3 < np.mean(black_and_white) < 0.9  # BINARY of them binarised, the rest grey
    drawn = hands.skeleton_drawings(digits, np.full(64, 2.0))
    # an even pen: every stroke as wide as the pen, so the ink area follows the skeleton's length
    length = skeleton(digits > 0.5).sum(axis=(1, 2))
    area = (drawn > 0.5).sum(axis=(1, 2))
    assert np.corrcoef(length, area)[0, 1] > 0.95


def test_an_unknown_hand_is_named(digits):
    with pytest.raises(ValueError, match="unknown hand 'tablet'"):
        hands.redraw(digits, "tablet", np.random.default_rng(0))


def zhang_suen_by_pixel(mask: np.ndarray) -> np.ndarray:
    """The textbook Zhang-Suen thinning, one pixel at a time."""
    img = np.pad(mask.astype(np.uint8), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            remove = []
            for r in range(1, img.shape[0] - 1):
                for c in range(1, img.shape[1] - 1):
                    if not img[r, c]:
                        continue
                    p = [img[r + dr, c + dc] for dr, dc in NEIGHBOURS]
                    transitions = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
                    n, e, s, w = p[0], p[2], p[4], p[6]
                    sides = (n * e * s == 0 and e * s * w == 0) if step == 0 else (n * e * w == 0 and n * s * w == 0)
                    if 2 <= sum(p) <= 6 and transitions == 1 and sides:
                        remove.append((r, c))
            for r, c in remove:
                img[r, c] = 0
            changed |= bool(remove)
    return img[1:-1, 1:-1].astype(bool)


def test_the_fast_skeleton_is_zhang_suen(mnist_raw):
    masks = mnist_raw.test_images[:12] > 127
    fast = skeleton(masks)
    for mask, thin in zip(masks, fast):
        np.testing.assert_array_equal(thin, zhang_suen_by_pixel(mask))
    np.testing.assert_array_equal(skeleton(masks[0]), fast[0])
