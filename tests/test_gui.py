"""The viewer, driven for real: a Tk window on Xvfb (pytest-xvfb), mouse and keys sent by xdotool.

Most tests run the window in this process and pump its event loop while xdotool runs, so they can read
the window's state as well as its title; two start the real `digits gui` command in a subprocess.
"""
from __future__ import annotations

import gc
import shlex
import shutil

import numpy as np
import pytest
from PIL import Image

from nnmodel.images.strokes import digit_strokes
from tests.helpers.viewer import (
    PAUSE,
    TITLE,
    click,
    draw,
    find_button,
    key,
    make_viewer,
    predicted,
    pump,
    run_pumping,
    stroke_commands,
    x_window_name,
    xdo,
)

pytestmark = pytest.mark.skipif(shutil.which("xdotool") is None,
                                reason="xdotool missing: .ci/run installs it (scripts/install-test-tools.sh)")


@pytest.fixture(scope="module")
def tk_root(xvfb):
    import tkinter as tk

    root = tk.Tk(className="digits")
    yield root
    root.destroy()
    gc.collect()  # free the viewers' Tk variables here, not later in some other thread


@pytest.fixture
def viewer(tk_root, registered_artifacts):
    """The viewer with the session's trained model, in a fresh top-level frame of the shared root."""
    yield from make_viewer(tk_root, registered_artifacts)


def sketch(image) -> list:
    """A digit's strokes with every third point (and each end): a quick drawing, for tests that
    need ink on the canvas rather than a faithful digit."""
    return [[*stroke[:-1:3], stroke[-1]] for stroke in digit_strokes(image)]


def first_of_each_digit(mnist_raw, per_digit: int) -> list[int]:
    """Indices of the first `per_digit` test images of each digit (not chosen by what the model says)."""
    labels = mnist_raw.test_labels
    return [int(i) for d in range(10) for i in np.flatnonzero(labels == d)[:per_digit]]


# ----------------------------------------------------------------------------------------------- tests


def test_drawing_a_digit_puts_it_in_the_title(viewer, mnist_raw):
    seven = mnist_raw.test_images[0]
    assert mnist_raw.test_labels[0] == 7
    assert viewer.root.title() == "digits"
    draw(viewer, digit_strokes(seven))
    title = viewer.root.title()
    assert predicted(title) == 7, title
    assert x_window_name(viewer) == title
    assert viewer.digit_label.cget("text") == "7"
    confidence = float(TITLE.match(title).group(2))
    assert 10 <= confidence <= 100
    assert viewer.current is not None and viewer.current.pixels.shape == (28, 28)
    assert viewer.current.pixels.max() > 0.9  # the 28x28 preview holds the digit


def test_recognised_live_while_drawing(viewer, mnist_raw):
    strokes = digit_strokes(mnist_raw.test_images[0])
    longest = max(strokes, key=len)
    commands = stroke_commands(viewer, [longest])
    xdo(viewer.root, *commands[:-4])  # every move, but the button is still held down
    assert viewer.last_point is not None, "the button should still be down"
    assert predicted(viewer.root.title()) is not None, viewer.root.title()
    xdo(viewer.root, "mouseup", "1")
    assert viewer.last_point is None


@pytest.mark.slow  # the quick loop keeps under a minute
def test_clear_by_key_escape_and_button(viewer, mnist_raw):
    strokes = sketch(mnist_raw.test_images[1])
    for how in ("c", "Escape", "button"):
        draw(viewer, strokes)
        assert predicted(viewer.root.title()) is not None
        if how == "button":
            click(viewer, find_button(viewer, "Clear (c)"))
        else:
            key(viewer, how)
        assert viewer.root.title() == "digits", how
        assert x_window_name(viewer) == "digits"
        assert viewer.digit_label.cget("text") == ""
        assert not np.asarray(viewer.ink).any()
        assert viewer.canvas.find_all() == ()


def test_a_blank_canvas_shows_no_prediction(viewer):
    xdo(viewer.root, *stroke_commands(viewer, [[(140, 140)]]))  # a click that leaves a tiny dot
    viewer.clear()
    pump(viewer.root, 0.1)
    assert viewer.root.title() == "digits"
    assert viewer.prediction is None


@pytest.mark.slow  # the quick loop keeps under a minute
def test_correction_saves_labelled_png(viewer, mnist_raw, registered_artifacts):
    feedback = registered_artifacts / "feedback"
    four = mnist_raw.test_images[4]
    assert mnist_raw.test_labels[4] == 4
    draw(viewer, sketch(four))
    seen = viewer.current.pixels.copy()
    key(viewer, "9")  # "no, it is a 9": saved under 9/, whatever the network said
    saved = list((feedback / "9").glob("*.png"))
    assert len(saved) == 1
    image = Image.open(saved[0])
    assert image.size == (28, 28) and image.mode == "L"
    assert np.abs(np.asarray(image) / 255 - seen).max() <= 1 / 255 + 1e-6
    assert viewer.root.title() == "digits"  # saved and cleared for the next one

    saved_events = []
    viewer.on_saved = lambda path, digit: saved_events.append((path, digit))
    draw(viewer, sketch(four))  # by button
    click(viewer, find_button(viewer, "4"))
    draw(viewer, sketch(four[:, 2:].repeat(2, axis=0)[:28]))  # another 4, by key: a second file, no overwrite
    key(viewer, "4")
    assert len(list((feedback / "4").glob("*.png"))) == 2 and [d for _, d in saved_events] == [4, 4]
    assert not list(feedback.rglob("*.partial"))

    key(viewer, "5")  # blank canvas: nothing to save
    assert not (feedback / "5").exists()
    assert "Draw a digit first" in viewer.status.cget("text")


def test_open_image_file_predicts_it(viewer, mnist_raw, tmp_path, trained_model):
    from nnmodel.images.preprocess import preprocess_image
    from nnmodel.model.modelfile import load_model

    # a test digit as a photo would arrive: dark ink on light paper, RGB, larger, off-centre
    digit = Image.fromarray(255 - mnist_raw.test_images[2]).resize((120, 120), Image.Resampling.BICUBIC)
    paper = Image.new("RGB", (300, 240), (235, 232, 220))
    paper.paste(digit.convert("RGB"), (40, 70))
    path = tmp_path / "a photo of a digit.jpg"
    paper.save(path, quality=92)
    net, _ = load_model(trained_model)
    expected = int(net.predict(preprocess_image(path).pixels.reshape(1, 784))[0])
    assert expected == mnist_raw.test_labels[2]

    x, y = viewer.canvas.winfo_rootx() + 5, viewer.canvas.winfo_rooty() + 5
    # the dialog runs its own event loop: make sure a failure here cannot hang the suite
    guard = viewer.root.after(20000, lambda: viewer.root.tk.eval("catch {destroy .__tk_filedialog}"))
    script = (f"xdotool mousemove {x} {y} sleep {PAUSE} key ctrl+o sleep 0.3 "
              "search --sync --name '^Open an image' windowfocus --sync %1 sleep 0.2 "
              f"type --delay 5 {shlex.quote(str(path))} && xdotool sleep 0.1 key Return")
    run_pumping(viewer.root, ["sh", "-c", script])
    viewer.root.after_cancel(guard)
    assert predicted(viewer.root.title()) == expected, viewer.root.title()
    assert str(path) in viewer.status.cget("text")
    draw(viewer, [[(30, 30), (40, 40)]])  # drawing on top of the opened image keeps recognising
    assert predicted(viewer.root.title()) is not None


@pytest.mark.slow  # the quick loop keeps under a minute
def test_dark_on_light_drawing_is_recognised_the_same(viewer, mnist_raw):
    viewer.dark_on_light.set(True)
    viewer.apply_colours()
    try:
        draw(viewer, digit_strokes(mnist_raw.test_images[0]))
        assert predicted(viewer.root.title()) == 7
        assert viewer.canvas.cget("bg") == "white"
    finally:
        viewer.dark_on_light.set(False)
        viewer.apply_colours()


@pytest.mark.slow
def test_twenty_drawn_digits_are_recognised(viewer, mnist_raw):
    """Strokes traced from 20 MNIST test digits (two of each), drawn at canvas scale with the mouse."""
    indices = first_of_each_digit(mnist_raw, per_digit=2)
    results = []
    for i in indices:
        draw(viewer, digit_strokes(mnist_raw.test_images[i]))
        results.append((int(mnist_raw.test_labels[i]), predicted(viewer.root.title())))
        key(viewer, "c")
        assert viewer.root.title() == "digits"
    right = sum(truth == guess for truth, guess in results)
    assert right >= 18, f"{right}/20 recognised: (truth, shown) {results}"


@pytest.mark.slow  # the quick loop keeps under a minute
def test_missing_model_explains_how_to_train(tk_root, tmp_path, mnist_raw):
    from gui.model import load_viewer_model, missing_model_help
    from nnmodel.errors import DigitsError

    empty = tmp_path / "empty"
    with pytest.raises(DigitsError) as info:
        load_viewer_model(empty)
    for app in make_viewer(tk_root, empty, model=None, model_help=missing_model_help(info.value, empty)):
        assert "digits --artifacts" in app.help_label.cget("text") and "train" in app.help_label.cget("text")
        draw(app, digit_strokes(mnist_raw.test_images[0]))  # drawing still works, nothing is guessed
        assert app.root.title() == "digits - no model"
        assert app.prediction is None


def test_theta_files_of_the_original_project(tmp_path, trained_model, mnist_raw):
    from gui.model import load_viewer_model
    from nnmodel.model.modelfile import load_model
    from nnmodel.model.original import save_thetas

    net, _ = load_model(trained_model)
    save_thetas(net, tmp_path)
    model = load_viewer_model(tmp_path / "unused", theta_dir=tmp_path)
    X = mnist_raw.test_images[:500].reshape(-1, 784).astype(np.float32) / 255
    assert np.array_equal(model.network.predict(X), net.predict(X))
    assert "Theta1.txt" in model.description


@pytest.mark.slow  # the quick loop keeps under a minute
def test_brush_and_colour_keys(viewer, mnist_raw):
    start = viewer.brush.get()
    key(viewer, "bracketright")
    assert viewer.brush.get() == start + 2
    key(viewer, "bracketleft", "bracketleft")
    assert viewer.brush.get() == start - 2
    draw(viewer, digit_strokes(mnist_raw.test_images[0]))
    key(viewer, "i")
    assert viewer.canvas.cget("bg") == "white"
    assert {viewer.canvas.itemcget(item, "fill") for item in viewer.canvas.find_withtag("stroke")} == {"black"}
    assert predicted(viewer.root.title()) == 7  # the colours changed, not what the network sees
    key(viewer, "i")
    assert viewer.canvas.cget("bg") == "black"
    viewer.brush.set(start)


@pytest.mark.slow  # the quick loop keeps under a minute; bench.gui times the panel too
def test_the_look_inside_panel_follows_the_drawing_live(viewer, mnist_raw):
    assert not viewer.inside.winfo_ismapped()
    key(viewer, "l")
    assert viewer.inside_on.get() and viewer.inside.winfo_ismapped()
    strokes = digit_strokes(mnist_raw.test_images[0])
    xdo(viewer.root, *stroke_commands(viewer, [max(strokes, key=len)])[:-4])  # still drawing
    assert viewer.inside.map.cget("image") and viewer.inside.unit_texts[0].cget("text").startswith("#")
    first = viewer.inside.unit_texts[0].cget("text")
    xdo(viewer.root, "mouseup", "1")
    draw(viewer, digit_strokes(mnist_raw.test_images[0]))
    assert predicted(viewer.root.title()) == 7
    units = [t.cget("text") for t in viewer.inside.unit_texts]
    assert all(u.startswith("#") for u in units) and units[0] != "" and first
    assert viewer.last_inside_ms > 0  # (its speed is measured in bench/gui.py)
    key(viewer, "c")
    assert viewer.inside.map.cget("image") == "" and viewer.inside.unit_texts[0].cget("text") == ""
    key(viewer, "l")
    assert not viewer.inside_on.get() and not viewer.inside.winfo_ismapped()


def clearly_drawn(viewer, mnist_raw, label: int) -> int:
    """The first test image of `label` that the model reads right, with p > 0.9 (and surely a digit),
    when drawn alone."""
    from nnmodel.images.preprocess import preprocess_image
    from nnmodel.images.strokes import render

    for i in np.flatnonzero(mnist_raw.test_labels == label)[:50]:
        pixels = preprocess_image(render(digit_strokes(mnist_raw.test_images[i]))).pixels.reshape(1, 784)
        proba, not_a_digit = viewer.model.network.proba_and_not_a_digit(pixels)
        if proba[0].argmax() == label and proba[0].max() > 0.9 and (not_a_digit is None or not_a_digit[0] < 0.1):
            return int(i)
    raise LookupError(label)


@pytest.mark.slow  # the quick loop keeps one minute; number mode is also in bench.gui
def test_number_mode_reads_the_whole_number_and_saves_one_digit(viewer, mnist_raw, registered_artifacts):
    key(viewer, "n")
    assert viewer.number_mode.get() and int(viewer.canvas.cget("width")) == 3 * int(viewer.ink.height)
    picks = [clearly_drawn(viewer, mnist_raw, d) for d in (2, 0, 7)]
    for k, i in enumerate(picks):  # side by side, 220 canvas pixels apart
        draw(viewer, [[(x + 220 * k, y) for x, y in stroke] for stroke in digit_strokes(mnist_raw.test_images[i])])
    title = x_window_name(viewer)
    assert title.startswith("digits - 207 (") and title.endswith("%)"), title
    assert [c.winfo_ismapped() for c, *_ in viewer.strip.cells[:4]] == [True, True, True, False]
    assert viewer.digit_label.cget("text") == "207"

    click(viewer, viewer.strip.cells[1][0])  # the 0, then "no, it is a 6": saved under 6/, drawing kept
    assert viewer.strip.selected == 1
    key(viewer, "6")
    saved = list((registered_artifacts / "feedback" / "6").glob("*.png"))
    assert len(saved) == 1
    assert np.abs(np.asarray(Image.open(saved[0])) / 255 - viewer.number.digits[1].pixels).max() <= 1 / 255 + 1e-6
    assert viewer.root.title() == title and "digit 2 of the number" in viewer.status.cget("text")
    key(viewer, "6")  # the same digit again (the drawing stays): already saved, not saved twice
    assert list((registered_artifacts / "feedback" / "6").glob("*.png")) == saved
    assert "Already saved: digit 2 of the number as 6" in viewer.status.cget("text")

    key(viewer, "n")  # back to one digit: the narrow canvas, cleared
    assert not viewer.number_mode.get() and int(viewer.canvas.cget("width")) == int(viewer.ink.width) == 280
    assert viewer.root.title() == "digits" and not viewer.strip.winfo_ismapped()


def test_number_mode_opens_a_number_image(viewer, tmp_path):
    from tests.helpers.number_images import random_numbers, write_numbers

    item = random_numbers(1, seed=3, lengths=[4], touch=0.0)[0]
    path = write_numbers(tmp_path, [item])[0]
    key(viewer, "n")
    viewer.open_image(path)
    pump(viewer.root, 0.2)
    assert viewer.number is not None and len(viewer.number.text) == 4
    assert viewer.root.title().startswith(f"digits - {viewer.number.text} (")
    assert np.asarray(viewer.ink).max() > 128  # the picture became the ink: strokes add to it


@pytest.fixture
def rejecting_viewer(tk_root, rejecting_model, tmp_path):
    """The viewer with the session's small model that knows what is not a digit."""
    from nnmodel.store.registry import Registry

    registry = Registry(tmp_path / "artifacts")
    with registry.new_version() as (staging, version):
        for f in rejecting_model.iterdir():
            shutil.copy(f, staging / f.name)
    registry.promote(version)
    yield from make_viewer(tk_root, tmp_path / "artifacts")


def tangle(left: float, top: float, size: float, seed: int = 0) -> list:
    """A scribble of pen in a box: no digit."""
    rng = np.random.default_rng(seed)
    point, heading, points = np.array([left + size / 2, top + size / 2]), 0.0, []
    for _ in range(60):
        heading += rng.normal(0, 0.9)
        point = np.clip(point + size / 10 * np.array([np.cos(heading), np.sin(heading)]), [left, top],
                        [left + size, top + size])
        points.append((float(point[0]), float(point[1])))
    return [points]


@pytest.mark.slow
def test_a_scribble_is_not_a_digit_and_a_stray_mark_is_left_out_of_a_number(rejecting_viewer, mnist_raw):
    viewer = rejecting_viewer
    draw(viewer, tangle(40, 40, 200))
    assert x_window_name(viewer).startswith("digits - not a digit ("), x_window_name(viewer)
    assert viewer.digit_label.cget("text") == "?" and "likely" in viewer.confidence_label.cget("text")
    key(viewer, "c")
    key(viewer, "n")
    picks = [clearly_drawn(viewer, mnist_raw, d) for d in (3, 5)]
    for k, i in enumerate(picks):
        draw(viewer, [[(x + 220 * k, y) for x, y in stroke] for stroke in digit_strokes(mnist_raw.test_images[i])])
    assert x_window_name(viewer).startswith("digits - 35 ("), (x_window_name(viewer), viewer.number.marks,
                                                               [(d.digit, d.box) for d in viewer.number.digits])
    # a scribble beside the number (the session's small model reliably tells scribbles from digits; how
    # well the default model leaves out crosses, dashes, ticks and blots is measured by bench.numbers)
    draw(viewer, tangle(560, 70, 130, seed=1))
    assert x_window_name(viewer).startswith("digits - 35 ("), x_window_name(viewer)
    assert viewer.number.marks == 1 and viewer.digit_label.cget("text") == "35"
