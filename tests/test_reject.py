"""Knowing what is not a digit: the negatives generator, the conv family's not-a-digit class, the one
reject decision (nnmodel.reject) and the reading paths that share it: batch rows, numbers with
stray marks, the API and explanations. The fixture model is small (`rejecting_model`); bench/reject.py
measures the default model."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nnmodel.images.negatives import (
    NEGATIVE_KINDS,
    NOT_A_DIGIT,
    fragment,
    letter,
    line_like,
    negative_images,
    negatives_by_kind,
)
from nnmodel.reject import THRESHOLD, read_digits


@pytest.fixture(scope="module")
def rejecting(rejecting_model):
    from nnmodel.model.modelfile import load_model

    return load_model(rejecting_model)[0]


def forms(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), 784).astype(np.float32) / 255


# ------------------------------------------------------------------ the generator

def test_every_kind_of_negative_comes_in_mnist_form_the_same_for_the_same_seed(mnist_raw):
    digits = mnist_raw.test_images[:500]
    images, kinds = negatives_by_kind(160, digits, seed=3)
    assert images.shape == (160, 28, 28) and images.dtype == np.uint8
    assert kinds == [NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)] for i in range(160)]
    np.testing.assert_array_equal(negative_images(160, digits, seed=3), images)
    assert not np.array_equal(negative_images(160, digits, seed=4), images)
    inked = [im for im in images if im.max() > 0]
    assert len(inked) >= 120  # most empty pages come out blank, as `digits predict` finds them
    for image in inked:  # MNIST form: within the 20x20 box's reach, centred by mass
        rows, cols = np.flatnonzero(image.max(axis=1)), np.flatnonzero(image.max(axis=0))
        assert rows[-1] - rows[0] < 24 and cols[-1] - cols[0] < 24
        y, x = np.indices(image.shape)
        mass = image.astype(float) / image.sum()
        assert abs((mass * y).sum() - 13.5) < 3 and abs((mass * x).sum() - 13.5) < 3


def test_a_fragment_is_a_real_piece_never_one_stroke_or_a_tall_sliver(mnist_raw):
    rng = np.random.default_rng(5)
    digits = mnist_raw.test_images[:2000]
    for _ in range(200):
        piece = fragment(rng, digits)
        assert piece.shape == (28, 28)
        assert not line_like(piece)
        rows, cols = np.flatnonzero(piece.max(axis=1) > 60), np.flatnonzero(piece.max(axis=0) > 60)
        assert rows[-1] - rows[0] + 1 <= 1.6 * (cols[-1] - cols[0] + 1)
        source = digits[(digits >= piece).all(axis=(1, 2))]  # the digit it was cut from, and only ink of it
        assert any((piece[piece > 0] == d[piece > 0]).all() for d in source)


def test_an_unknown_kind_of_negative_is_named():
    with pytest.raises(ValueError, match="'blob'"):
        negative_images(4, np.zeros((1, 28, 28), np.uint8), kinds=("noise", "blob"))


# ------------------------------------------------------------------ the class and the decision

@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_the_model_rejects_every_kind_it_never_saw_and_keeps_real_digits(rejecting, mnist_raw):
    images, kinds = negatives_by_kind(800, mnist_raw.test_images, seed=77)  # from test digits: unseen
    rejected = read_digits(rejecting, forms(images)).rejected | (images.max(axis=(1, 2)) == 0)  # blank: no digit
    kinds = np.array(kinds)
    rates = {kind: rejected[kinds == kind].mean() for kind in NEGATIVE_KINDS}
    assert rejected.mean() >= 0.8, rates
    assert min(rates.values()) >= 0.4, rates  # the fixture model is small: bench/reject.py has the real figures
    real = read_digits(rejecting, forms(mnist_raw.test_images[:3000]))
    assert real.rejected.mean() <= 0.05  # the default model: 0.1% (bench/reject.py)
    assert (real.proba.argmax(axis=1) == mnist_raw.test_labels[:3000]).mean() >= 0.93


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_the_decision_turns_exactly_at_the_threshold(rejecting, mnist_raw):
    images = np.concatenate([negative_images(40, mnist_raw.test_images, seed=8), mnist_raw.test_images[:40]])
    X = forms(images)
    p = read_digits(rejecting, X).not_a_digit
    near = [i for i in np.argsort(np.abs(p - 0.5)) if 0.02 < p[i] < 0.98][:5]
    assert near, p
    for i in near:
        at = float(p[i])
        assert read_digits(rejecting, X, threshold=at).rejected[i]
        assert not read_digits(rejecting, X, threshold=float(np.nextafter(np.float32(at), 1))).rejected[i]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            read_digits(rejecting, X[:1], threshold=bad)


def test_a_model_without_the_class_never_rejects(trained_model, mnist_raw):
    from nnmodel.model.modelfile import load_model

    net = load_model(trained_model)[0]
    X = forms(negative_images(16, mnist_raw.test_images, seed=1))
    reading = read_digits(net, X)
    assert not reading.rejected.any() and np.isnan(reading.not_a_digit).all()
    np.testing.assert_allclose(reading.proba, net.predict_proba(X))


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_predict_proba_stays_the_ten_digits_and_the_file_keeps_the_reject_head(rejecting, rejecting_model, tmp_path,
                                                                            mnist_raw):
    from nnmodel.model import modelfile

    X = forms(np.concatenate([mnist_raw.test_images[:20], negative_images(20, mnist_raw.test_images, seed=2)]))
    proba, p_not = rejecting.proba_and_not_a_digit(X)
    assert proba.shape == (40, 10) and p_not.shape == (40,)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(rejecting.predict_proba(X), proba)
    assert "not-a-digit head" in rejecting.describe() and rejecting.reject_sizes[-1] == 2
    copy = modelfile.load_model(modelfile.save_model(rejecting, tmp_path / "again"))[0]
    np.testing.assert_array_equal(copy.not_a_digit_proba(X), p_not)


def test_labels_and_the_class_must_agree(mnist_raw):
    from nnmodel.model.conv import ConvFeatures

    X = forms(mnist_raw.train_images[:300])
    small = {"filters": 2, "stage2_filters": 0, "patches": 1000, "hidden_sizes": (4,), "max_iter": 2,
             "warmup": (), "test_shifts": 0}
    with pytest.raises(ValueError, match="needs training images labelled 10"):
        ConvFeatures(**small, not_a_digit=True).fit(X, mnist_raw.train_labels[:300])
    labels = mnist_raw.train_labels[:300].copy()
    labels[:5] = NOT_A_DIGIT
    with pytest.raises(ValueError, match="only with not_a_digit=True"):
        ConvFeatures(**small).fit(X, labels)


def test_recipes_learn_the_class_from_their_negatives():
    from nnmodel.model.presets import recipe

    default = recipe("default")
    assert default["negatives"] > 0 and default["params"]["not_a_digit"] is True
    assert recipe("default", negatives=0)["params"]["not_a_digit"] is False
    assert recipe("mlp")["negatives"] == 0
    with pytest.raises(ValueError, match="mlp family has no not-a-digit class"):
        recipe("mlp", negatives=100)
    with pytest.raises(ValueError, match="negatives must be a whole number"):
        recipe("default", negatives=-1)


def test_the_distortion_layer_appends_the_negatives_labelled_ten(tmp_path, link_prepared):
    from nnmodel.data.distorted import distort_training_split, training_data
    from nnmodel.store.layout import Layout

    layout = Layout(link_prepared(tmp_path / "artifacts"))
    data = next(p for p in (layout.root / "data").iterdir() if (p / "train.parquet").is_file() and "+" not in p.name)
    layer = distort_training_split(layout, data, [], seed=0, log=lambda m: None, negatives=300)
    X, y = training_data(data, layer)
    assert (y == NOT_A_DIGIT).sum() == 300 and (y[-300:] == NOT_A_DIGIT).all() and X.shape[0] == len(y)
    assert distort_training_split(layout, data, [], seed=0, log=lambda m: None, negatives=300) == layer  # cached
    assert distort_training_split(layout, data, [], seed=0, log=lambda m: None, negatives=200) != layer


# ------------------------------------------------------------------ the reading paths

def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def noise_photo(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8)


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_batch_rows_say_not_a_digit_with_the_reason_and_the_threshold_moves_it(rejecting, rejecting_model, mnist_raw,
                                                                              tmp_path):
    from nnmodel.batch.classify import classify_files
    from nnmodel.images.preprocess import preprocess_image

    folder = tmp_path / "scans"
    folder.mkdir()
    for seed in range(50):  # a letter the model is sure of, not certain (so a threshold can let it through)
        (folder / "noise.png").write_bytes(png(letter(np.random.default_rng(seed), None)))
        p_noise = float(read_digits(rejecting, preprocess_image(folder / "noise.png").pixels.reshape(1, 784))
                        .not_a_digit[0])
        if 0.5 < p_noise < 0.999:
            break
    assert 0.5 < p_noise < 0.999
    (folder / "seven.png").write_bytes(png(255 - np.kron(mnist_raw.test_images[0], np.ones((5, 5), np.uint8))))
    files = [(str(folder), "noise.png"), (str(folder), "seven.png")]
    noise, seven = classify_files(str(rejecting_model), files)
    assert noise[-2] == "not_a_digit" and noise[-1].startswith("not a digit (") and "threshold is 50%" in noise[-1]
    assert seven[2] == 7 and seven[-2] == "ok" and seven[-1] == ""
    assert f"({p_noise:.0%} likely" in noise[-1]
    kept = classify_files(str(rejecting_model), files, reject_threshold=p_noise + 1e-4)[0]  # batches differ in ulps
    assert kept[-2] in ("ok", "low_confidence") and kept[-1] == ""


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_the_api_and_explain_say_not_a_digit(rejecting_model, mnist_raw):
    from nnmodel.api import load
    from nnmodel.explain import explain

    reader = load(str(rejecting_model))
    noise, seven = reader.read(noise_photo(2).mean(axis=2).astype(np.uint8)), reader.read(mnist_raw.test_images[0])
    assert noise.not_a_digit and noise.digit is None and noise.not_a_digit_probability >= THRESHOLD
    assert not seven.not_a_digit and seven.digit == 7 and seven.not_a_digit_probability < THRESHOLD
    why = explain(reader.model, forms(negative_images(8, mnist_raw.test_images, seed=4, kinds=("noise",)))[0])
    assert why.rejected and why.not_a_digit >= THRESHOLD


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_a_number_drops_its_stray_marks_and_a_page_of_marks_is_no_number(rejecting, mnist_raw):
    from nnmodel.images.numbers import read_number, read_numbers
    from tests.helpers.number_images import STRAYS, random_numbers, stray_mark

    plain = random_numbers(60, seed=31, lengths=range(2, 5), specks=0, touch=0)
    marked = random_numbers(60, seed=31, lengths=range(2, 5), specks=0, touch=0, stray="any")
    before = read_numbers([item.image for item in plain], rejecting)
    after = read_numbers([item.image for item in marked], rejecting)
    exact_before = np.mean([r.text == item.text for r, item in zip(before, plain)])
    exact_after = np.mean([r.text == item.text for r, item in zip(after, marked)])
    assert exact_after >= exact_before - 0.15, [(r.text, item.text) for r, item in zip(after, marked)]
    assert np.mean([len(r.text) > len(item.text) for r, item in zip(after, marked)]) <= 0.15
    assert sum(r.marks > 0 for r in after) >= 0.6 * len(after)
    pages = []
    for kind in STRAYS:  # pages with only a mark: ink, but no number
        for seed in range(6):
            ink = np.zeros((80, 120), np.float32)
            stray_mark(np.random.default_rng(seed), ink, kind, 50.0, 30, 65.0)
            read = read_number(np.round((1 - ink) * 255).astype(np.uint8), rejecting)
            pages.append((kind, read.text, read.marks))
    assert np.mean([text == "" for _, text, _ in pages]) >= 0.7, pages
    assert np.mean([marks > 0 for _, _, marks in pages]) >= 0.7, pages


@pytest.mark.slow  # trains the session's small rejecting model (about half a minute)
def test_the_numbers_csv_has_a_row_for_a_page_without_a_digit(rejecting_model, tmp_path):
    from nnmodel.batch.classify import read_number_files
    from nnmodel.batch.rows import NUMBER_COLUMNS

    (tmp_path / "noise.png").write_bytes(png(noise_photo(3)))
    row = read_number_files(str(rejecting_model), [(str(tmp_path), "noise.png")])[0]
    record = dict(zip(NUMBER_COLUMNS, row))
    assert record["status"] in ("not_a_digit", "blank") and record["number"] == ""
    if record["status"] == "not_a_digit":
        assert record["error"].startswith("no number:")
