"""Batch prediction through the real flow and CLI: rows for every file, bad input, resume, strictness."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from nnmodel.batch import listing, parts
from nnmodel.batch import rows as csv_rows
from tests.helpers.data import write_digits
from tests.helpers.processes import DIGITS, run_digits, without_prefect_settings

pytestmark = pytest.mark.slow


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_flow_writes_one_row_per_file_in_stable_order(prefect_harness, registered_artifacts, messy_folder, mnist_raw):
    from flows.predict import predict_flow
    from nnmodel.store.registry import Registry

    out = messy_folder.parent / "out.csv"
    summary = predict_flow([str(messy_folder)], str(out), str(Registry(registered_artifacts).resolve()),
                           recursive=True, chunk_size=7)
    rows = read_csv(out)
    paths = [r["path"] for r in rows]
    expected = sorted([f"digit-{i:05d}.png" for i in range(20)] + ["sub dir/a b.png", "sub dir/ünïcødé 7.png",
                      "sub dir/c.png", "zero.png", "text.png", "notes.txt", "cut.png", "cut.jpg", "white.png"])
    assert paths == expected
    by_path = {r["path"]: r for r in rows}
    predicted = [int(by_path[f"digit-{i:05d}.png"]["predicted"]) for i in range(20)]
    assert np.mean(np.array(predicted) == mnist_raw.test_labels[:20]) >= 0.9
    assert int(by_path["sub dir/ünïcødé 7.png"]["predicted"]) == mnist_raw.test_labels[21]
    for name in ("zero.png", "text.png", "notes.txt", "cut.png", "cut.jpg"):
        assert by_path[name]["status"] == "error" and name in by_path[name]["error"], name
        assert "\n" not in by_path[name]["error"]
    assert "truncated" in by_path["cut.png"]["error"] and "not an image" in by_path["text.png"]["error"]
    assert by_path["white.png"]["status"] == "blank" and by_path["white.png"]["predicted"] == ""
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(abs(sum(float(r[f"p{d}"]) for d in range(10)) - 1) < 1e-4 for r in ok)
    assert summary["status"] == {"ok": 23, "low_confidence": 0, "several_digits": 0, "not_a_digit": 0, "blank": 1,
                                 "error": 5}
    assert summary["rows"] == 29 and sum(summary["digits"].values()) == 23
    assert not parts.parts_dir(out).exists()
    assert (out.parent / "out.csv.summary.json").is_file()


def test_min_confidence_marks_low_confidence(prefect_harness, registered_artifacts, messy_folder):
    from flows.predict import predict_flow
    from nnmodel.store.registry import Registry

    out = messy_folder.parent / "out.csv"
    predict_flow([str(messy_folder)], str(out), str(Registry(registered_artifacts).resolve()), min_confidence=1.01)
    statuses = {r["status"] for r in read_csv(out) if r["predicted"]}
    assert statuses == {"low_confidence"}


@pytest.mark.slow  # trains the session's small rejecting model
def test_not_a_digit_rows_and_their_threshold(prefect_harness, rejecting_model, tmp_path, mnist_raw):
    """With a model that knows what is not a digit: noise is a not_a_digit row (its reason in the error
    column, counted apart from the digits), digits stay ok; the threshold is the flow's parameter."""
    from flows.predict import predict_flow

    write_digits(tmp_path / "scans", mnist_raw.test_images[:3])
    noise = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "scans" / "noise.png")
    out = tmp_path / "out.csv"
    summary = predict_flow([str(tmp_path / "scans")], str(out), str(rejecting_model))
    rows = {r["path"]: r for r in read_csv(out)}
    assert rows["noise.png"]["status"] == "not_a_digit" and rows["noise.png"]["error"].startswith("not a digit (")
    assert summary["status"]["not_a_digit"] == 1 and summary["status"]["ok"] == 3
    assert sum(summary["digits"].values()) == 3
    predict_flow([str(tmp_path / "scans")], str(out), str(rejecting_model), reject_threshold=0.01)
    assert "the threshold is 1%)" in {r["path"]: r for r in read_csv(out)}["noise.png"]["error"]


def test_image_files_given_one_by_one_get_their_rows(prefect_harness, registered_artifacts, tmp_path, mnist_raw,
                                                     server_env):
    """Files given on the command line (as a shell glob gives them) are classified like a folder's:
    their row names their folder as given and their name; a file given twice, or also listed by its
    folder, gets one row; a file that is no image is an error row; --out may not be an input file."""
    from flows.predict import predict_flow
    from nnmodel.store.registry import Registry

    write_digits(tmp_path / "scans", mnist_raw.test_images[:3])
    (tmp_path / "scans" / "broken.png").write_bytes(b"nope")
    scans = tmp_path / "scans"
    inputs = [str(scans / "digit-00002.png"), str(scans / "broken.png"), str(tmp_path / "scans"),
              str(scans / "digit-00002.png")]
    out = tmp_path / "out.csv"
    predict_flow(inputs, str(out), str(Registry(registered_artifacts).resolve()))
    rows = read_csv(out)
    assert [(r["folder"], r["path"]) for r in rows] == [
        (str(scans), name) for name in ("broken.png", "digit-00000.png", "digit-00001.png", "digit-00002.png")]
    assert rows[0]["status"] == "error" and "broken.png" in rows[0]["error"]
    assert [int(r["predicted"]) for r in rows[1:]] == list(mnist_raw.test_labels[:3])

    alone = run_digits(["--artifacts", str(registered_artifacts), "predict", "digit-00001.png", "--out",
                        str(tmp_path / "alone.csv")], cwd=scans, env=server_env)
    assert alone.returncode == 0, alone.stderr
    assert [(r["folder"], r["path"], r["predicted"]) for r in read_csv(tmp_path / "alone.csv")] == [
        (".", "digit-00001.png", str(mnist_raw.test_labels[1]))]
    assert f"  digit-00001.png: {mnist_raw.test_labels[1]} (" in alone.stderr  # a few files: answers shown too
    before = (scans / "digit-00000.png").read_bytes()
    refused = run_digits(["--artifacts", str(registered_artifacts), "predict", str(scans / "digit-00000.png"),
                          "--out", str(scans / "digit-00000.png")])
    assert refused.returncode == 1 and "is one of the input images" in refused.stderr.strip().splitlines()[-1]
    assert (scans / "digit-00000.png").read_bytes() == before


def test_unreadable_subfolder_is_a_row_not_a_crash(tmp_path, mnist_raw):
    """A folder the walker cannot open (here: its path is longer than the OS allows) becomes an error
    row, and the readable files are still listed."""
    write_digits(tmp_path / "open", mnist_raw.test_images[:2])
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(18):  # 18 levels of 250 characters: well past PATH_MAX (4096)
        os.mkdir("d" * 250, dir_fd=fd)
        fd, old = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    files, errors = listing.list_files([str(tmp_path)], recursive=True)
    assert [f[1] for f in files] == ["open/digit-00000.png", "open/digit-00001.png"]
    folder, path, message = errors[0]
    assert len(errors) == 1 and folder == str(tmp_path) and "cannot read folder" in message
    assert path.startswith("d" * 250)
    row = dict(zip(csv_rows.COLUMNS, csv_rows.error_row(*errors[0])))
    assert row["status"] == "error" and row["error"] == message


def test_cli_errors_before_any_work(tmp_path, registered_artifacts, messy_folder):
    out = ["--out", str(tmp_path / "o.csv")]
    missing = run_digits(["--artifacts", str(registered_artifacts), "predict", str(tmp_path / "nope"), *out])
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith(f"error: {tmp_path / 'nope'}: no such file or folder")
    no_model = run_digits(["--artifacts", str(tmp_path / "empty"), "predict", str(messy_folder), *out])
    assert no_model.returncode == 1 and "no trained model" in no_model.stderr and "digits train" in no_model.stderr
    assert not (tmp_path / "o.csv").exists()


def test_cli_exit_codes_strict_and_nothing_readable(tmp_path, registered_artifacts, messy_folder, server_env):
    out = tmp_path / "o.csv"
    relaxed = run_digits(["--artifacts", str(registered_artifacts), "predict", str(messy_folder), "--out", str(out)],
                         env=server_env)
    assert relaxed.returncode == 0, relaxed.stderr
    assert "ERROR" not in relaxed.stderr and "Traceback" not in relaxed.stderr
    assert "error" in relaxed.stderr and "images/s" in relaxed.stderr
    assert "digit-00000.png:" not in relaxed.stderr  # 29 files: the answers are in the CSV only
    strict = run_digits(["--artifacts", str(registered_artifacts), "predict", str(messy_folder), "--out", str(out),
                         "--strict"], env=server_env)
    assert strict.returncode == 1 and "could not be read (--strict)" in strict.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"nope")
    nothing = run_digits(["--artifacts", str(registered_artifacts), "predict", str(junk),
                          "--out", str(tmp_path / "j.csv")], env=server_env)
    assert nothing.returncode == 1 and "no file could be read" in nothing.stderr
    assert read_csv(tmp_path / "j.csv")[0]["status"] == "error"


def test_killed_run_resumes_without_losing_or_duplicating_rows(tmp_path, registered_artifacts, mnist_raw, server_env):
    folder = tmp_path / "many"
    write_digits(folder, mnist_raw.test_images[:3000])
    out = tmp_path / "resumed.csv"
    args = ["--artifacts", str(registered_artifacts), "predict", str(folder), "--out", str(out), "--chunk-size", "50",
            "--workers", "1"]
    env = {**without_prefect_settings(), **server_env}
    proc = subprocess.Popen([*DIGITS, *args], env=env, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    part_files = parts.parts_dir(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(part_files.glob("part-*.csv"))) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    done_before = len(parts.done_keys(out))
    assert 0 < done_before < 3000 and not out.exists()
    resumed = run_digits(args + ["--resume"], env=server_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "kept from the earlier run" in resumed.stderr
    rows = read_csv(out)
    assert [r["path"] for r in rows] == [f"digit-{i:05d}.png" for i in range(3000)]
    fresh = run_digits(args[:5] + [str(tmp_path / "fresh.csv")] + args[6:], env=server_env)
    assert fresh.returncode == 0, fresh.stderr
    assert rows == read_csv(tmp_path / "fresh.csv")


@pytest.mark.slow  # decodes a 121-megapixel scan
def test_a_huge_scan_is_refused_unless_the_user_allows_it(tmp_path, registered_artifacts, mnist_raw, server_env):
    folder = tmp_path / "scans"
    write_digits(folder, mnist_raw.test_images[:2])
    huge = Image.new("L", (11000, 11000), 255)
    huge.paste(Image.fromarray(255 - mnist_raw.test_images[2]).resize((4000, 4000)), (3000, 3000))
    huge.convert("1").save(folder / "huge.png")
    out = tmp_path / "out.csv"
    args = ["--artifacts", str(registered_artifacts), "predict", str(folder), "--out", str(out)]
    refused = run_digits(args, env=server_env)
    assert refused.returncode == 0, refused.stderr
    row = {r["path"]: r for r in read_csv(out)}["huge.png"]
    assert row["status"] == "error" and "11000x11000 pixels is over the 120,000,000 pixel limit" in row["error"]
    assert "--max-pixels" in row["error"]
    allowed = run_digits(args + ["--max-pixels", "125000000"], env=server_env)
    assert allowed.returncode == 0, allowed.stderr
    row = {r["path"]: r for r in read_csv(out)}["huge.png"]
    assert row["status"] in ("ok", "low_confidence") and int(row["predicted"]) == mnist_raw.test_labels[2]
