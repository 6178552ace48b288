"""Nothing lost, nothing hangs, every failure one line: odd names, special files, spreadsheet formulas,
outputs that would overwrite inputs, two runs on one CSV, full and read-only disks. Real files, real
file systems (tmpfs) and real concurrent processes."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nnmodel.batch import cells, classify, listing, output, parts, plan
from nnmodel.batch import rows as csv_rows
from nnmodel.errors import SetupError, StorageError
from tests.helpers.data import write_digits
from tests.helpers.filesystems import tmpfs
from tests.helpers.processes import DIGITS, run_digits, without_prefect_settings

ODD_NAMES = [os.fsdecode(b"caf\xe9-latin1.png"), "line\nbreak.png", "carriage\rreturn.png", "=HYPERLINK(1).png",
             "+1.png", "-2.png", "@cmd.png", "'quoted.png", "back\\slash.png", "tab\tstart.png", "\tlead.png",
             "ünïcødé.png", "space name.png"]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def odd_folder(tmp_path, mnist_raw) -> Path:
    """Digits under names that are not UTF-8, hold CR/LF, look like formulas; and special entries."""
    folder = tmp_path / "odd"
    write_digits(folder, mnist_raw.test_images[: len(ODD_NAMES)], ODD_NAMES)
    os.mkfifo(folder / "a pipe.png")
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    (folder / "loop1.png").symlink_to(folder / "loop2.png")
    (folder / "loop2.png").symlink_to(folder / "loop1.png")
    (folder / "device.png").symlink_to("/dev/null")
    (folder / "linked.png").symlink_to(folder / ODD_NAMES[-1])
    (folder / "linked folder").symlink_to(tmp_path)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "a socket.png"))
    yield folder
    sock.close()


def classify_in_thread(model_dir, files, timeout=60):
    """classify_files, failing the test instead of hanging if something blocks (a pipe opened)."""
    box = {}
    worker = threading.Thread(target=lambda: box.update(rows=classify.classify_files(model_dir, files)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "classifying blocked (a special file was opened for reading?)"
    return box["rows"]


def test_every_entry_that_is_not_a_folder_gets_exactly_one_row(odd_folder, trained_model, mnist_raw):
    files, errors = listing.list_files([str(odd_folder)])
    names = [rel for _, rel in files]
    assert not errors and "linked folder" not in names
    assert sorted(names) == sorted([*ODD_NAMES, "a pipe.png", "dangling.png", "loop1.png", "loop2.png",
                                    "device.png", "linked.png", "a socket.png"])
    rows = {cells.uncell(r[csv_rows.COL["path"]]): dict(zip(csv_rows.COLUMNS, r))
            for r in classify_in_thread(str(trained_model), files)}
    assert len(rows) == len(files)
    for name in ODD_NAMES:  # the odd names are read like any other file
        assert rows[name]["status"] in ("ok", "low_confidence"), (name, rows[name])
    right = [int(rows[n]["predicted"]) == mnist_raw.test_labels[i] for i, n in enumerate(ODD_NAMES)]
    assert np.mean(right) > 0.7
    assert rows["linked.png"]["status"] in ("ok", "low_confidence")
    expected = {"a pipe.png": "not a regular file (a named pipe)", "a socket.png": "not a regular file (a socket)",
                "device.png": "not a regular file (a character device)",
                "dangling.png": "a broken symbolic link", "loop1.png": "a symbolic link that loops"}
    for name, message in expected.items():
        assert rows[name]["status"] == "error" and message in rows[name]["error"], rows[name]


def test_the_csv_is_valid_utf8_quotes_cr_lf_and_neutralises_formulas(odd_folder, trained_model, tmp_path):
    files, _ = listing.list_files([str(odd_folder)])
    out = tmp_path / "out.csv"
    parts.write_part(out, classify_in_thread(str(trained_model), files))
    raw = out.read_bytes()
    raw.decode("utf-8")                                          # valid UTF-8 whatever the names' bytes
    rows = read_csv(out)
    assert len(rows) == len(files)                               # CR/LF inside names did not break rows
    paths = [r["path"] for r in rows]
    assert {cells.uncell(p) for p in paths} == {rel for _, rel in files}  # and every name round-trips
    assert "caf\\xe9-latin1.png" in paths and "back\\\\slash.png" in paths
    for p in paths:  # nothing a spreadsheet would evaluate
        assert not p.startswith(("=", "+", "-", "@", "\t", "\r")), p
    assert "'=HYPERLINK(1).png" in paths and "'-2.png" in paths and "''quoted.png" in paths
    for r in rows:
        assert not r["error"].startswith(("=", "+", "-", "@")), r["error"]
        for column in ("predicted", "confidence", "p0"):  # numbers are never altered
            assert r[column] == "" or r[column][0].isdigit()
    pd = pytest.importorskip("pandas")
    assert len(pd.read_csv(io.BytesIO(raw))) == len(files)


@pytest.mark.parametrize("name", ["ok.png", os.fsdecode(b"\xff\xfe.png"), "a\\xff.png", "'=x", "=x", "\\", "''"])
def test_cells_round_trip(name):
    assert cells.uncell(cells.cell(name)) == name
    assert cells.cell(name).encode("utf-8")


def test_resume_after_odd_names_keeps_every_row_once(odd_folder, trained_model, tmp_path):
    files, _ = listing.list_files([str(odd_folder)])
    out = tmp_path / "out.csv"
    parts.write_part(parts.part_path(out, 0), classify_in_thread(str(trained_model), files[:5]))
    the_plan = plan.plan_batch([str(odd_folder)], out, resume=True)
    assert the_plan["skipped"] == 5 and sum(len(f) for _, f in the_plan["chunks"]) == len(files) - 5
    for part, chunk in the_plan["chunks"]:
        parts.write_part(Path(part), classify_in_thread(str(trained_model), chunk))
    parts.merge_parts(out, [str(odd_folder)], resume=True)
    assert sorted(cells.uncell(r["path"]) for r in read_csv(out)) == sorted(rel for _, rel in files)


def test_an_output_that_would_overwrite_or_join_the_inputs_is_refused(tmp_path, mnist_raw):
    folder = tmp_path / "in"
    write_digits(folder / "sub", mnist_raw.test_images[:2])
    write_digits(folder, mnist_raw.test_images[:2])
    for out, recursive in [(folder / "digit-00000.png", False), (folder / "new.csv", False),
                           (folder / "sub" / "x.csv", True)]:
        with pytest.raises(SetupError, match="is inside the folder being classified"):
            output.check_output(out, [str(folder)], recursive)
    with pytest.raises(SetupError, match="is a folder"):
        output.check_output(folder, [str(tmp_path / "elsewhere")])
    assert output.check_output(folder / "sub" / "x.csv", [str(folder)], recursive=False) == folder / "sub" / "x.csv"


def test_one_csv_has_one_writer_at_a_time(tmp_path):
    out = tmp_path / "out.csv"
    with output.output_lock(out), pytest.raises(SetupError, match="another digits predict is writing it"), \
            output.output_lock(out):
        pass
    with output.output_lock(out):  # released at the end of the block
        pass


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path):
    with tmpfs(tmp_path / "small", "64k") as small:
        (small / "earlier.csv").write_text("kept\n")
        rows = [csv_rows.error_row("f", f"{i:05d}.png", "x" * 200) for i in range(2000)]  # ~500 KB
        with pytest.raises(StorageError, match=r"out.csv: No space left on device") as caught:
            parts.write_part(small / "out.csv", rows)
        assert "\n" not in str(caught.value)
        assert sorted(p.name for p in small.iterdir()) == ["earlier.csv"]
        assert (small / "earlier.csv").read_text() == "kept\n"


def test_a_read_only_place_is_refused_before_any_work(tmp_path):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as read_only, \
            pytest.raises(StorageError, match="Read-only file system"):
        output.check_output(read_only / "out.csv", [str(tmp_path / "in")])


# ---------------------------------------------------------------------------------- the real command

def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_predict_never_overwrites_an_input_and_refuses_a_second_writer(tmp_path, registered_artifacts, mnist_raw):
    folder = tmp_path / "in"
    write_digits(folder, mnist_raw.test_images[:600])
    image = folder / "digit-00003.png"
    before = sha(image)
    art = ["--artifacts", str(registered_artifacts)]
    refused = run_digits([*art, "predict", str(folder), "--out", str(image)])
    assert refused.returncode == 1 and sha(image) == before
    [line] = refused.stderr.strip().splitlines()
    assert "--out" in line and "inside the folder being classified" in line

    out = tmp_path / "out.csv"
    first = run_digits([*art, "predict", str(folder), "--out", str(out), "--workers", "1"])
    assert first.returncode == 0, first.stderr
    kept = out.read_bytes()
    env = without_prefect_settings()
    slow = subprocess.Popen([*DIGITS, *art, "predict", str(folder), "--out", str(out), "--workers", "1",
                             "--chunk-size", "50"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / f".{out.name}.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    second = run_digits([*art, "predict", str(folder), "--out", str(out)])
    slow.wait(300)
    assert slow.returncode == 0, slow.stderr.read()
    assert second.returncode == 1 and "another digits predict is writing it" in second.stderr
    # the same rows, whole (a batch of another size may change a probability's last digit: BLAS order)
    rows, earlier = read_csv(out), list(csv.DictReader(io.StringIO(kept.decode(), newline="")))
    assert len(rows) == 600 and [r["path"] for r in rows] == [r["path"] for r in earlier]
    assert [r["predicted"] for r in rows] == [r["predicted"] for r in earlier]
    assert np.allclose([float(r["confidence"]) for r in rows], [float(r["confidence"]) for r in earlier], atol=2e-6)


def test_errors_cross_process_pools_whole():
    """Batch prediction's pool workers send their errors back pickled: each must come back as it was
    (a StorageError that could not be rebuilt broke the pool instead of saying the disk is full)."""
    import errno
    import pickle

    from nnmodel.errors import DataError, ModelFileError

    for error in (DataError("a.png: not an image"), SetupError("no model"), ModelFileError("m/model.json: bad"),
                  StorageError("/x/out.csv", OSError(errno.ENOSPC, "No space left on device"))):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error) and back.args == error.args


@pytest.mark.slow
def test_commands_on_full_or_read_only_disks_say_so_in_one_line(tmp_path, registered_artifacts, mnist_raw):
    folder = tmp_path / "in"
    write_digits(folder, mnist_raw.test_images[:3000])
    with tmpfs(tmp_path / "small", "128k") as small:
        done = run_digits(["--artifacts", str(registered_artifacts), "predict", str(folder), "--out",
                           str(small / "out.csv")])
        assert done.returncode == 1, done.stderr
        assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("error: ")
        assert not [p for p in small.rglob("*") if p.suffix in (".csv", ".partial")]
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as read_only:
        started = time.monotonic()
        done = run_digits(["--artifacts", str(read_only), "train", "--preset", "quick"])
        assert done.returncode == 1 and time.monotonic() - started < 30
        assert done.stderr.strip() == f"error: {read_only}: Read-only file system"
    with tmpfs(tmp_path / "tiny", "4m") as tiny:  # the raw layer (~55 MB) cannot fit
        done = run_digits(["--artifacts", str(tiny), "train", "--preset", "quick"])
        assert done.returncode == 1 and "No space left on device" in done.stderr
        assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1].startswith("error: ")
        assert not list(tiny.rglob("*.partial")) and not list(tiny.rglob("*.npy"))
