"""Feedback images: saved atomically without overwriting, read back through the shared preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnmodel.errors import DataError
from nnmodel.store.feedback import labelled_files, load_feedback, save_feedback
from tests.helpers.data import write_digits
from tests.helpers.processes import run_digits


def test_saves_never_overwrite_and_leave_no_temp_files(tmp_path, mnist_raw):
    saved = [save_feedback(tmp_path, mnist_raw.test_images[i] / 255, 7) for i in range(30)]  # same second
    paths = [s.path for s in saved]
    assert len(set(paths)) == 30 and all(s.new for s in saved)
    assert sorted(p.name for p in (tmp_path / "7").iterdir()) == sorted(p.name for p in paths)
    image = np.asarray(Image.open(paths[0]))
    assert image.shape == (28, 28) and np.array_equal(image, mnist_raw.test_images[0])


def test_the_same_image_is_saved_once_per_digit(tmp_path, mnist_raw):
    pixels = mnist_raw.test_images[0] / 255
    first = save_feedback(tmp_path, pixels, 7)
    again = save_feedback(tmp_path, pixels, 7)
    assert first.new and not again.new and again.path == first.path
    assert len(list((tmp_path / "7").iterdir())) == 1
    assert save_feedback(tmp_path, pixels, 1).new  # the same image as another digit is the user's call
    # a file whose name says the same content but whose pixels differ is not taken for it
    (tmp_path / "7" / first.path.name).rename(tmp_path / "7" / f"x-{first.path.name.split('-')[-1]}")
    Image.new("L", (28, 28), 9).save(tmp_path / "7" / f"x-{first.path.name.split('-')[-1]}")
    assert save_feedback(tmp_path, pixels, 7).new


def test_rejects_a_label_that_is_not_a_digit(tmp_path):
    with pytest.raises(ValueError, match="0-9"):
        save_feedback(tmp_path, np.zeros((28, 28)), 10)


def test_reads_labelled_folders_and_reports_bad_files(tmp_path, mnist_raw):
    for i in range(3):
        save_feedback(tmp_path, mnist_raw.test_images[i] / 255, int(mnist_raw.test_labels[i]))
    big = Image.fromarray(255 - mnist_raw.test_images[3]).resize((200, 200))  # a user's own scan
    (tmp_path / "0").mkdir(exist_ok=True)
    big.save(tmp_path / "0" / "scan.jpg")
    (tmp_path / "3").mkdir(exist_ok=True)
    (tmp_path / "3" / "notes.png").write_text("not an image")
    Image.new("L", (28, 28), 0).save(tmp_path / "3" / "empty.png")
    (tmp_path / "not-a-digit").mkdir()
    Image.new("L", (28, 28), 255).save(tmp_path / "not-a-digit" / "x.png")

    assert len(labelled_files(tmp_path)) == 6
    images, labels, problems = load_feedback(tmp_path)
    assert images.shape == (4, 28, 28) and images.dtype == np.uint8
    assert sorted(labels.tolist()) == sorted([0] + [int(d) for d in mnist_raw.test_labels[:3]])
    assert len(problems) == 3
    assert any("notes.png" in p and "not an image" in p for p in problems)
    assert any("empty.png" in p and "blank" in p for p in problems)
    assert any("not-a-digit/: a folder not named for a digit 0-9, skipped" in p for p in problems)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such feedback folder"):
        labelled_files(tmp_path / "nope")


@pytest.mark.slow  # three commands in their own processes
def test_the_feedback_and_models_commands_list_without_an_action(tmp_path, registered_artifacts, mnist_raw):
    """`digits feedback` counts the labelled images per digit; `digits models` lists the versions."""
    from nnmodel.store.registry import Registry

    art = ["--artifacts", str(tmp_path / "a")]
    empty = run_digits([*art, "feedback"])
    assert empty.returncode == 0 and "no feedback in" in empty.stderr and empty.stdout == ""
    for i in range(3):
        save_feedback(tmp_path / "a" / "feedback", mnist_raw.test_images[i] / 255, 7 if i else 2)
    listed = run_digits([*art, "feedback", "list"])
    assert listed.returncode == 0, listed.stderr
    lines = [line.split()[:2] for line in listed.stdout.splitlines()]
    assert lines == [["2", "1"], ["7", "2"], ["all", "3"]]
    models = run_digits(["--artifacts", str(registered_artifacts), "models"])
    assert models.returncode == 0, models.stderr
    current = [line for line in models.stdout.splitlines() if line.startswith("*")]
    assert len(current) == 1 and current[0].split()[1] == Registry(registered_artifacts).current()["version"]


def test_entries_that_are_not_digit_folders_are_listed_as_skipped(tmp_path, mnist_raw):
    from nnmodel.store.feedback import load_labelled

    write_digits(tmp_path / "7", mnist_raw.test_images[:2])
    write_digits(tmp_path / "seven", mnist_raw.test_images[:3])
    write_digits(tmp_path, mnist_raw.test_images[:1], ["loose.png"])
    (tmp_path / ".cache").mkdir()
    images, labels, _, problems = load_labelled(tmp_path)
    assert len(images) == 2 and list(labels) == [7, 7]
    assert problems == [f"{tmp_path / 'loose.png'}: not inside a digit's folder (0-9), skipped",
                        f"{tmp_path / 'seven'}/: a folder not named for a digit 0-9, skipped"]


def test_feedback_add_twice_saves_once_and_says_so(tmp_path, mnist_raw):
    write_digits(tmp_path / "in", mnist_raw.test_images[:1], ["a.png"])
    args = ["--artifacts", str(tmp_path / "art"), "feedback", "add", "7", str(tmp_path / "in" / "a.png")]
    first, second = run_digits(args), run_digits(args)
    assert first.returncode == second.returncode == 0, second.stderr
    assert "saved 1 new image(s) as 7" in first.stderr
    assert "saved 0 new image(s) as 7" in second.stderr and "already saved as 7" in second.stderr
    assert second.stdout == "" and len(list((tmp_path / "art" / "feedback" / "7").iterdir())) == 1
