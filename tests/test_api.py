"""Using a model from Python (`nnmodel.api`), and the README's example run exactly as written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnmodel.api import load
from nnmodel.errors import DataError, SetupError
from tests.helpers.number_images import mnist_test, render_number

README = Path(__file__).resolve().parents[1] / "README.md"


def test_read_read_many_and_read_number(registered_artifacts, mnist_raw, tmp_path):
    model = load(artifacts=registered_artifacts)
    assert model.version and "MLP" in repr(model)
    reading = model.read(mnist_raw.test_images[0])
    assert reading.digit == mnist_raw.test_labels[0] and 0.5 < reading.confidence <= 1 and not reading.blank
    assert reading.probabilities.shape == (10,) and reading.probabilities.sum() == pytest.approx(1, abs=1e-5)
    Image.fromarray(255 - mnist_raw.test_images[1]).resize((90, 90)).save(tmp_path / "dark-on-light.png")
    assert model.read(tmp_path / "dark-on-light.png").digit == mnist_raw.test_labels[1]
    assert model.read(np.zeros((40, 40), np.uint8)).blank
    batch = model.read_many(mnist_raw.test_images[:50])
    assert [r.digit for r in batch] == [model.read(i).digit for i in mnist_raw.test_images[:50]]
    Image.new("L", (30, 30), 0).save(tmp_path / "blank.png")
    files = model.read_many([tmp_path / "dark-on-light.png", tmp_path / "blank.png"])
    assert files[0].digit == mnist_raw.test_labels[1] and files[1].blank and files[1].digit is None
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match="bad.png: not an image"):
        model.read_many([tmp_path / "bad.png"])
    with pytest.raises(SetupError, match="no such model version"):
        load("19990101-000000-dead", artifacts=registered_artifacts)
    assert load(str(model_folder(registered_artifacts))).model.describe() == model.model.describe()


def model_folder(artifacts: Path) -> Path:
    from nnmodel.store.registry import Registry

    return Registry(artifacts).resolve()


def test_the_readme_example_runs_as_written(registered_artifacts, tmp_path):
    [code] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    images, labels = mnist_test()
    Image.fromarray(255 - images[0]).resize((100, 100)).save(tmp_path / "scan.png")
    picks = [3, 2, 1]  # 0, 1, 2 in MNIST's test order: a number the fixture model reads
    number = render_number(np.random.default_rng(0), images[picks], labels[picks], gaps=["wide"] * 2, clean=True,
                           specks=0, fmt="PNG")
    (tmp_path / "form.png").write_bytes(number.data)
    assert registered_artifacts == tmp_path / "artifacts"  # ./artifacts where the example runs
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(rf"{labels[0]} \d+\.\d%", lines[0]), lines
    assert lines[1] == number.text
    assert len(lines) == 4 and lines[2].startswith(f"{labels[0]} [")
