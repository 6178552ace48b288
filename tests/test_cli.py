"""The `digits` command as a user runs it: help, one-line errors, fail-fast on a dead Prefect API."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

DIGITS = [sys.executable, "-m", "flows.cli"]


def run(args, env=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(DIGITS + args, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.mark.parametrize("command", [[], ["data"], ["data", "fetch"], ["data", "prepare"], ["train"],
                                     ["evaluate"], ["models"], ["predict"], ["gui"], ["schedule"], ["runs"]])
def test_help_reads_well(command):
    result = run(command + ["--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: digits")
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_source_is_one_line_error(tmp_path):
    result = run(["--artifacts", str(tmp_path), "data", "fetch", "--source", str(tmp_path / "nope")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nope'}: no such file or folder " \
                                                     "(--source takes 'bundled', 'url' or a path)"
    assert not any(tmp_path.iterdir())


def test_dead_api_url_fails_fast(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    result = run(["--artifacts", str(tmp_path), "data", "fetch"], env={"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "is not reachable" in result.stderr and "Traceback" not in result.stderr


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


def prefect_server_pids() -> set[str]:
    lines = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return {line.split()[0] for line in lines if "uvicorn" in line or "prefect server" in line}


@pytest.mark.slow
def test_data_prepare_command_end_to_end_is_quiet(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    clean["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    before = prefect_server_pids()
    result = subprocess.run(DIGITS + ["--artifacts", str(tmp_path / "art"), "data", "prepare"],
                            capture_output=True, text=True, timeout=300, env=clean)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr and "Traceback" not in result.stderr
    assert "WARNING" not in result.stderr
    assert result.stdout.strip().startswith(str(tmp_path / "art" / "data" / "mnist-"))
    assert prefect_server_pids() <= before  # the temporary server stopped with the command
