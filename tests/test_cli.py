"""The `digits` command as a user runs it: help, one-line errors, fail-fast on a dead Prefect API."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.helpers.processes import DIGITS, parse_digits, run_digits, temporary_servers_of, without_prefect_settings


def run(args, env=None, timeout=120):
    return run_digits(args, env=env, keep_prefect_env=True, timeout=timeout)


@pytest.mark.parametrize("command", [[], ["data"], ["data", "fetch"], ["data", "prepare"], ["train"],
                                     ["evaluate"], ["models"], ["predict"], ["gui"], ["schedule"], ["runs"]])
def test_help_reads_well(command):
    code, out, err = parse_digits(command + ["--help"])
    assert code == 0, err
    assert out.startswith("usage: digits") and "Traceback" not in out + err


def test_help_as_a_user_runs_it():
    result = run(["train", "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: digits train") and "--family" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args, option, problem", [
    (["train", "--hidden", "0"], "--hidden", "must be a whole number from 1"),
    (["train", "--maxiter", "-3"], "--maxiter", "must be a whole number from 1"),
    (["train", "--maxiter", "ten"], "--maxiter", "must be a whole number"),
    (["train", "--lambda", "-1"], "--lambda", "must be a finite number of at least 0"),
    (["train", "--lambda", "nan"], "--lambda", "must be a finite number"),
    (["train", "--lambda", "inf"], "--lambda", "must be a finite number"),
    (["train", "--seed", "-1"], "--seed", "must be a whole number from 0"),
    (["train", "--preset", "fast"], "--preset", "invalid choice: 'fast'"),
    (["train", "--validation-size", "70000"], "--validation-size", "must be a whole number from 0 to 59999"),
    (["predict", "d", "--min-confidence", "1.5"], "--min-confidence", "must be a finite number from 0 to 1"),
    (["predict", "d", "--min-confidence", "nan"], "--min-confidence", "must be a finite number"),
    (["predict", "d", "--chunk-size", "0"], "--chunk-size", "must be a whole number from 1"),
    (["predict", "d", "--reject-threshold", "0"], "--reject-threshold", "must be a finite number from 0.01 to 1"),
    (["predict", "d", "--reject-threshold", "2"], "--reject-threshold", "must be a finite number from 0.01 to 1"),
    (["predict", "d", "--workers", "0"], "--workers", "must be a whole number from 1"),
    (["schedule", "--interval", "0"], "--interval", "must be a number above 0"),
    (["gui", "--brush", "1000"], "--brush", "must be a whole number from 4 to 48"),
    (["runs", "--limit", "0"], "--limit", "must be a whole number from 1"),
])
def test_bad_options_are_one_line_naming_the_option_before_any_work(tmp_path, args, option, problem):
    code, out, err = parse_digits(["--artifacts", str(tmp_path / "a"), *args])
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert f"argument {option}" in line and problem in line, line
    assert not (tmp_path / "a").exists()


def test_a_bad_option_as_a_user_runs_it(tmp_path):
    result = run(["--artifacts", str(tmp_path / "a"), "train", "--hidden", "0"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("digits train: error: argument --hidden: must be a whole number from 1 to "
                                     "100000, not '0' (see digits train --help)")
    assert not (tmp_path / "a").exists()


def test_artifacts_and_verbose_options_work_before_or_after_the_command(tmp_path):
    before = run(["--artifacts", str(tmp_path / "x"), "runs"])
    after = run(["runs", "--artifacts", str(tmp_path / "y"), "-v"])
    assert before.returncode == after.returncode == 0
    assert str(tmp_path / "x" / "runs") in before.stderr and str(tmp_path / "y" / "runs") in after.stderr


def test_missing_source_is_one_line_error(tmp_path):
    result = run(["--artifacts", str(tmp_path), "data", "fetch", "--source", str(tmp_path / "nope")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nope'}: no such file or folder " \
                                                     "(--source takes 'bundled', 'url' or a path)"
    assert not any(tmp_path.iterdir())


def test_missing_labelled_folder_is_one_line_error_before_any_work(tmp_path):
    result = run(["--artifacts", str(tmp_path / "a"), "evaluate", "--labelled", str(tmp_path / "nope")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: --labelled {tmp_path / 'nope'}: no such folder " \
                                                     "(expected <digit>/<image> files)"
    assert not (tmp_path / "a" / "reports").exists()
    (tmp_path / "class" / "seven").mkdir(parents=True)
    (tmp_path / "class" / "seven" / "x.png").write_bytes(b"")
    named = run(["--artifacts", str(tmp_path / "a"), "evaluate", "--labelled", str(tmp_path / "class")])
    assert named.returncode == 1 and named.stderr.strip().splitlines()[-1].endswith(
        "no images in its 0-9 folders (expected <digit>/<image> files); 1 skipped, e.g. "
        f"{tmp_path / 'class' / 'seven'}/: a folder not named for a digit 0-9, skipped")


def test_predict_names_at_most_three_inputs():
    from cli.predict import named_inputs

    assert named_inputs(["a", "b"]) == "a, b"
    assert named_inputs(["a", "b", "c"]) == "a, b, c"
    assert named_inputs([f"f{i}.png" for i in range(5000)]) == "f0.png, f1.png, f2.png and 4,997 more"


def test_dead_api_url_fails_fast(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    result = run(["--artifacts", str(tmp_path), "data", "fetch"], env={"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "is not reachable" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # waits out a timeout by design
def test_unresponsive_api_url_fails_fast(tmp_path):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = run(["--artifacts", str(tmp_path), "data", "fetch"],
                     env={"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
        assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "is not reachable" in result.stderr and "timed out" in result.stderr




@pytest.mark.slow
def test_data_prepare_command_end_to_end_is_quiet(tmp_path):
    clean = without_prefect_settings()
    clean["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    result = subprocess.run(DIGITS + ["--artifacts", str(tmp_path / "art"), "data", "prepare"],
                            capture_output=True, text=True, timeout=300, env=clean)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr and "Traceback" not in result.stderr
    assert "WARNING" not in result.stderr
    assert result.stdout.strip().startswith(str(tmp_path / "art" / "data" / "mnist-"))
    assert temporary_servers_of(clean["PREFECT_HOME"]) == []  # the temporary server stopped with the command


@pytest.mark.parametrize("command", [["runs"], ["models", "list"], ["feedback", "list"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, registered_artifacts, command):
    """`digits runs | head -1`: the reader closes the pipe before the command has written; the command
    stops quietly with the status a shell reports for a tool stopped by a closed pipe (141)."""
    from nnmodel.store import runs
    from nnmodel.store.feedback import save_feedback
    from nnmodel.store.layout import Layout

    layout = Layout(registered_artifacts)
    runs.start_run(layout, "run-1", {"preset": "quick"})
    runs.finish_run(layout, "run-1", {"outcome": "failed", "error": "a test run"})
    save_feedback(layout.feedback, np.zeros((28, 28), np.float32) + 0.5, 3)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        proc = subprocess.run([*DIGITS, "--artifacts", str(registered_artifacts), *command], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=without_prefect_settings())
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_a_folder_of_folders_is_refused_before_any_work_with_a_hint(tmp_path):
    lab = tmp_path / "lab"
    (lab / "monday").mkdir(parents=True)
    (lab / "monday" / "a.png").write_bytes(b"")
    (lab / ".hidden").write_text("x")
    out = tmp_path / "lab.csv"
    started = time.monotonic()
    result = run(["--artifacts", str(tmp_path / "a"), "predict", str(lab), "--out", str(out)])
    assert result.returncode == 1 and time.monotonic() - started < 30
    assert result.stderr.strip().splitlines()[-1] == (f"error: {lab}: holds only folders; add --recursive to "
                                                      "classify the images inside them")
    assert not out.exists() and not (tmp_path / "a" / "models").exists()
    (tmp_path / "empty").mkdir()
    empty = run(["--artifacts", str(tmp_path / "a"), "predict", str(tmp_path / "empty")])
    assert empty.returncode == 1 and empty.stderr.strip().endswith("no files to classify (empty folder)")
