"""Report pictures and numbers: trained weights look like strokes, calibration and the threshold table
on hand-made probabilities, pictures of the expected size that are not blank."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnmodel.model.dense import init_params
from nnmodel.model.mlp import MLP
from nnmodel.reports import calibration, drawing, pictures, render


@pytest.fixture(scope="module")
def net(trained_model):
    from nnmodel.model.modelfile import load_model

    return load_model(trained_model)[0]


def untrained() -> MLP:
    net = MLP(hidden_sizes=(64,))
    net.params_ = init_params(net.sizes, seed=0)
    return net


def stroke_likeness(net, mnist_raw) -> np.ndarray:
    """Per unit (H,): the largest |correlation| of its weight image with a digit's mean test image
    (each mean minus the mean of all digits, so the shared blob in the middle does not count)."""
    X = mnist_raw.test_images.reshape(-1, 784) / 255.0
    means = np.stack([X[mnist_raw.test_labels == d].mean(axis=0) for d in range(10)]) - X.mean(axis=0)
    W = net.units().pictures.reshape(-1, 784)
    W = W - W.mean(axis=1, keepdims=True)
    means = means - means.mean(axis=1, keepdims=True)
    correlation = (W / np.linalg.norm(W, axis=1, keepdims=True)) @ (means / np.linalg.norm(means, axis=1)[:, None]).T
    return np.abs(correlation).max(axis=1)


def test_trained_weights_look_like_digit_strokes_not_noise(net, mnist_raw):
    trained, random = stroke_likeness(net, mnist_raw), stroke_likeness(untrained(), mnist_raw)
    # measured: trained mean 0.45 (lowest unit 0.25), untrained mean 0.06 (highest unit 0.09)
    assert trained.mean() > 0.25 and trained.mean() > 3 * random.mean()
    assert np.mean(trained > random.max()) > 0.9


def test_weight_grid_shows_the_units_in_the_order_given(net):
    grid = pictures.weight_grid(net.units(), np.argsort(-net.unit_importance(), kind="stable"))
    assert grid.size == (20 * 60, 4 * (60 + 13))  # 64 tiles of 56 px + 4 px gap, 20 a row, rank labels
    first = int(np.argmax(net.unit_importance()))
    tile = np.asarray(drawing.weight_tile(net.units().pictures[first], 2))
    np.testing.assert_array_equal(np.asarray(grid)[13:13 + 56, 2:2 + 56], tile)
    assert len(np.unique(np.asarray(grid).reshape(-1, 3) @ [1 << 16, 1 << 8, 1])) > 500

    chosen = pictures.weight_grid(net.units(), order=[3, 1], columns=20, scale=3, labels=None)
    assert chosen.size == (2 * 88, 88)
    np.testing.assert_array_equal(np.asarray(chosen)[0:84, 2:86],
                                  np.asarray(drawing.weight_tile(net.units().pictures[3], 3)))


def history(n=30, every=10, accuracies=(0.90, 0.93, 0.92)) -> list[dict]:
    """A made-up L-BFGS-B history: falling loss, validation accuracy every `every` iterations."""
    entries = [{"iteration": i, "max_iter": n, "loss": 2.3 / i, "grad_norm": 1.0 / i, "seconds": 0.1 * i,
                "eta_seconds": 0.1 * (n - i)} for i in range(1, n + 1)]
    for k, accuracy in enumerate(accuracies):
        entries[(k + 1) * every - 1]["val_accuracy"] = accuracy
    return entries


def test_training_curves_mark_the_kept_iteration():
    entries = history()
    image = pictures.training_curves(entries, stopped_at=20)  # the best check, as after an early stop
    assert image.size == (760, 560)
    pixels = np.asarray(image)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 60) & (pixels[..., 2] < 80)
    columns = np.flatnonzero(red[300:500].any(axis=0))  # the dashed line in the accuracy panel
    x_of_20 = 80 + 20 / 30 * (730 - 80)
    assert columns.size and abs(columns.mean() - x_of_20) < 3
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)
    assert blue[40:240].sum() > 300  # the loss curve

    for few in (entries[:1], [{k: v for k, v in e.items() if k != "val_accuracy"} for e in entries], []):
        picture = pictures.training_curves(few)
        assert picture.size == (760, 560) and np.asarray(picture).min() < 100


def probabilities(confidence: float, digits) -> np.ndarray:
    """Rows (n, 10) whose top probability is `confidence`, on the given digits; the rest spread evenly."""
    proba = np.full((len(digits), 10), (1 - confidence) / 9)
    proba[np.arange(len(digits)), digits] = confidence
    return proba


def toy(groups) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels from (confidence, answers, right answers) groups; answers are all 3."""
    probas, labels = [], []
    for confidence, n, right in groups:
        probas.append(probabilities(confidence, np.full(n, 3)))
        labels += [3] * right + [4] * (n - right)
    return np.concatenate(probas), np.array(labels)


def test_calibration_of_a_calibrated_and_an_over_confident_model():
    calibrated = calibration.calibration(*toy([(0.65, 20, 13), (0.95, 20, 19)]))
    assert calibrated["ece"] == pytest.approx(0, abs=1e-9)
    assert [b["count"] for b in calibrated["bins"]] == [0] * 6 + [20, 0, 0, 20]
    assert calibrated["bins"][6]["accuracy"] == pytest.approx(0.65)
    assert calibrated["bins"][0]["confidence"] is None and calibrated["n"] == 40

    over = calibration.calibration(*toy([(0.95, 50, 35), (0.55, 50, 30)]))
    # 95% sure but right 70%: gap 0.25; 55% sure but right 60%: gap 0.05; half the images each
    assert over["ece"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.05)
    assert over["accuracy"] == pytest.approx(0.65) and over["confidence"] == pytest.approx(0.75)
    assert json.loads(json.dumps(over)) == over

    image = pictures.reliability_diagram(over)
    assert image.size == (520, 500)
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    bars = (abs(pixels - (120, 160, 200)).sum(axis=1) < 10).sum()
    shaded = ((pixels[:, 0] > 200) & (pixels[:, 1] < 190) & (pixels[:, 2] < 200)).sum()
    assert bars > 5000 and shaded > 2000


def test_threshold_table_on_a_hand_made_case():
    #           confidence: 0.3   0.6   0.6   0.8   0.85  0.92  0.96  0.99
    proba, labels = toy([(0.3, 1, 0), (0.6, 2, 1), (0.8, 1, 1), (0.85, 1, 0), (0.92, 1, 1), (0.96, 1, 1),
                         (0.99, 1, 1)])
    half, strict = calibration.threshold_table(proba, labels, thresholds=(0.5, 0.8))
    # 0.5: flags the 0.3 answer (wrong): 1 of 8 images, 1 of 3 errors, none of the 5 right answers
    assert half == {"threshold": 0.5, "flagged": 1 / 8, "flagged_count": 1, "errors_caught": pytest.approx(1 / 3),
                    "right_flagged": 0.0, "kept_accuracy": pytest.approx(5 / 7), "kept_count": 7}
    # 0.8: flags 0.3 and both 0.6 (as --min-confidence does, 0.8 itself is kept): 2 of 3 errors, 1 of 5 right
    assert strict["flagged_count"] == 3 and strict["errors_caught"] == pytest.approx(2 / 3)
    assert strict["right_flagged"] == pytest.approx(1 / 5) and strict["kept_accuracy"] == pytest.approx(4 / 5)
    assert json.loads(json.dumps([half, strict])) == [half, strict]

    everything = calibration.threshold_table(proba, labels, thresholds=(1.0,))[0]
    assert everything["flagged"] == 1.0 and everything["kept_accuracy"] is None

    text = render.look_inside_markdown(calibration.calibration(proba, labels), [half, strict])
    assert "(weights.png)" in text and "(curves.png)" in text and "(reliability.png)" in text
    assert "| 0.5 | 12.50% | 33.33% | 0.00% | 71.43% |" in text
    assert "weights.png" not in render.look_inside_markdown(calibration.calibration(proba, labels), [], weights=None)


def title_band(text: str, width: int, size: int = 16) -> np.ndarray:
    """What a picture's first 30 rows hold when they carry only `text` as its title at (10, 8)."""
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (width, 30), "white")
    ImageDraw.Draw(band).text((10, 8), text, fill="black", font=drawing.label_font(size))
    return np.asarray(band)


def test_the_confusion_picture_has_its_title_and_names_its_axes():
    cm = np.diag(np.arange(100, 110)) + 1
    image = pictures.confusion_png(cm, "Confusion matrix, a test")
    pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels[:30], title_band("Confusion matrix, a test", image.width))
    axis = np.asarray(pictures.vertical_text("true digit", drawing.label_font(13), drawing.AXIS))
    top = 78 + 10 * 44 // 2 - 40
    np.testing.assert_array_equal(pixels[top: top + axis.shape[0], 8: 8 + axis.shape[1]], axis)
    assert (pixels[34:50, 70:] < 200).any()  # the predicted-digit axis line under the title


def test_the_weights_picture_has_a_title_and_a_colour_key(net):
    image = pictures.weight_figure(net.units(), np.argsort(-net.unit_importance(), kind="stable"))
    pixels = np.asarray(image)
    title = "What each hidden unit looks for (its input weights), most important first"
    assert tuple(pixels[38, 14]) == drawing.FOR and tuple(pixels[54, 14]) == drawing.AGAINST  # the key's swatches
    np.testing.assert_array_equal(pixels[:30], title_band(title, image.width))
