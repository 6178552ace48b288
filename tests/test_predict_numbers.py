"""`digits predict --numbers` through the real flow and CLI: one row per file with the whole number,
its digit count, confidences and boxes; blank and bad files; resume, and refusing to mix kinds."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from nnmodel.batch import rows as csv_rows
from tests.helpers.number_images import mnist_test, random_numbers, render_number, write_numbers
from tests.helpers.processes import run_digits

pytestmark = pytest.mark.slow


def read_csv(path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def clear_digits(net, label: int, count: int) -> np.ndarray:
    """Indices of MNIST test digits of `label` that the model reads right with p > 0.99 on their own."""
    images, labels = mnist_test()
    candidates = np.flatnonzero(labels == label)[:200]
    proba = net.predict_proba(images[candidates].reshape(-1, 784).astype(np.float32) / 255)
    return candidates[(proba.argmax(axis=1) == label) & (proba.max(axis=1) > 0.99)][:count]


@pytest.fixture
def number_folder(tmp_path, trained_model):
    """12 generated numbers, a clean "0844" (leading zero), a blank paper, a broken file and a text file."""
    from nnmodel.model.modelfile import load_model

    net = load_model(trained_model)[0]
    folder = tmp_path / "forms"
    items = random_numbers(12, seed=5)
    write_numbers(folder, items)
    picks = np.concatenate([clear_digits(net, 0, 1), clear_digits(net, 8, 1), clear_digits(net, 4, 2)])
    images, labels = mnist_test()
    zero = render_number(np.random.default_rng(0), images[picks], labels[picks], gaps=["wide"] * 3, clean=True,
                         specks=0, fmt="PNG")
    (folder / "leading-zero.png").write_bytes(zero.data)
    Image.new("L", (300, 80), 200).save(folder / "paper.png")
    (folder / "broken.jpg").write_bytes(zero.data[:300])
    (folder / "notes.txt").write_text("not an image\n")
    return folder, items


def test_flow_reads_one_number_per_file(prefect_harness, registered_artifacts, number_folder):
    from flows.predict import predict_flow
    from nnmodel.store.registry import Registry

    folder, items = number_folder
    out = folder.parent / "numbers.csv"
    summary = predict_flow([str(folder)], str(out), str(Registry(registered_artifacts).resolve()), numbers=True,
                           chunk_size=5, min_confidence=0.5)
    header, rows = read_csv(out)
    assert header == csv_rows.NUMBER_COLUMNS
    by_path = {r["path"]: r for r in rows}
    assert sorted(by_path) == sorted([f"number-{i:05d}{item.suffix}" for i, item in enumerate(items)]
                                     + ["leading-zero.png", "paper.png", "broken.jpg", "notes.txt"])
    assert by_path["leading-zero.png"]["number"] == "0844" and by_path["leading-zero.png"]["count"] == "4"
    exact = [by_path[f"number-{i:05d}{item.suffix}"]["number"] == item.text for i, item in enumerate(items)]
    assert np.mean(exact) >= 0.5  # the fixture model is small; bench/numbers.py measures the real one
    for row in rows:
        if row["status"] in ("ok", "low_confidence"):
            confidences = [float(c) for c in row["digit_confidences"].split(";")]
            boxes = [tuple(map(int, b.split(":"))) for b in row["boxes"].split(";")]
            assert len(row["number"]) == int(row["count"]) == len(confidences) == len(boxes)
            assert float(row["confidence"]) == pytest.approx(min(confidences), abs=1e-6)
            assert all(x0 < x1 for x0, x1 in boxes) and [b[0] for b in boxes] == sorted(b[0] for b in boxes)
            assert (row["status"] == "ok") == (min(confidences) >= 0.5)
    assert by_path["paper.png"]["status"] == "blank" and by_path["paper.png"]["number"] == ""
    for name in ("broken.jpg", "notes.txt"):
        assert by_path[name]["status"] == "error" and name in by_path[name]["error"], name
    read = [r for r in rows if r["status"] in ("ok", "low_confidence")]
    assert summary["rows"] == len(rows) and summary["status"]["error"] == 2 and summary["status"]["blank"] == 1
    assert sum(summary["digits"].values()) == sum(int(r["count"]) for r in read)


def test_cli_numbers_resume_and_refuses_mixing_kinds(tmp_path, registered_artifacts, server_env):
    folder = tmp_path / "forms"
    items = random_numbers(5, seed=9)
    paths = write_numbers(folder, items)
    for path in paths[3:]:
        path.rename(tmp_path / path.name)  # held back for the resumed run
    out = tmp_path / "numbers.csv"
    base = ["--artifacts", str(registered_artifacts), "predict", str(folder), "--numbers", "--out", str(out)]
    first = run_digits(base, env=server_env)
    assert first.returncode == 0, first.stderr
    assert len(read_csv(out)[1]) == 3
    for path in paths[3:]:
        (tmp_path / path.name).rename(path)
    resumed = run_digits([*base, "--resume"], env=server_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 kept from the earlier run" in resumed.stderr
    header, rows = read_csv(out)
    assert header == csv_rows.NUMBER_COLUMNS and [r["path"] for r in rows] == [p.name for p in paths]
    before = out.read_bytes()
    mixed = run_digits([a for a in base if a != "--numbers"] + ["--resume"], env=server_env)
    assert mixed.returncode == 1
    assert mixed.stderr.strip().splitlines()[-1] == (f"error: --out {out}: holds whole numbers; resume it with "
                                                     "--numbers, or write another file")
    assert out.read_bytes() == before
