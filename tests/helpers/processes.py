"""Helpers for tests and benchmarks that start real processes: free ports, waiting, stopping, and a
real `prefect server start` on 127.0.0.1 (plain functions, no pytest)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended while waiting for {what}: {(proc.communicate()[1] or '')[-2000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True and all its children: SIGTERM, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def running_prefect_server(home: Path):
    """A real `prefect server start` on a free 127.0.0.1 port with its own database under `home`
    (its log in home/server.log); yields its API URL and stops it, children included, at exit."""
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api")
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        api = f"http://127.0.0.1:{port}/api"

        def healthy():
            try:
                with urllib.request.urlopen(api + "/health", timeout=2) as r:
                    return r.read() == b"true"
            except OSError:
                return False

        try:
            wait_for(healthy, 90, "the Prefect server to answer /api/health", server)
            yield api
        finally:
            stop_process_group(server)


DIGITS = [sys.executable, "-m", "cli"]


def without_prefect_settings() -> dict:
    """This process's environment without its PREFECT_* settings (a command then sets up Prefect as
    a user's would), except PREFECT_HOME: the test session's own (conftest.py), so that no test ever
    uses the Prefect database or server record of the person running the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"}


def run_digits(args: list[str], env: dict | None = None, keep_prefect_env: bool = False, timeout: float = 300,
               **kwargs) -> subprocess.CompletedProcess:
    """Run the real `digits` command (as `python -m cli`) and capture its output as text. The
    caller's PREFECT_* settings but PREFECT_HOME are dropped (each command then starts its own
    temporary server) unless `keep_prefect_env`; `env` adds or overrides variables."""
    base = dict(os.environ) if keep_prefect_env else without_prefect_settings()
    return subprocess.run(DIGITS + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})}, **kwargs)


def parse_digits(args: list[str]) -> tuple[int, str, str]:
    """The `digits` command's own parser on `args`, in this process: (exit status, stdout, stderr).
    For tests of --help and of options refused while parsing, which end before any work (no
    process of its own needed: the same parser, without a Python start-up per case)."""
    import io

    from cli.main import build_parser

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(args)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@contextlib.contextmanager
def digits_server(home: Path, port: int | None = None):
    """`digits server start` with its own Prefect home (database, record, log) on a free port; yields
    (api url, environment for digits commands that should find it) and runs `digits server stop`."""
    port = port or free_port()
    env = without_prefect_settings()
    env["PREFECT_HOME"] = str(home)
    started = subprocess.run([*DIGITS, "server", "start", "--port", str(port)], env=env, capture_output=True,
                             text=True, timeout=240)
    assert started.returncode == 0, started.stderr
    try:
        yield f"http://127.0.0.1:{port}/api", env
    finally:
        subprocess.run([*DIGITS, "server", "stop"], env=env, capture_output=True, timeout=60)


def api_call(api: str, path: str, body: dict | None = None):
    """GET (or POST `body` as JSON to) a Prefect server's REST API (`api` ends in /api); the decoded answer.
    Retries a 503 a few times, as Prefect's own client does: its SQLite database answers 503 while busy."""
    for attempt in range(6):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(api + path, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 5:
                raise
            time.sleep(0.5 * 2 ** attempt)


def api_post(api: str, path: str, body: dict):
    """POST `body` as JSON to a Prefect server's REST API; the decoded answer."""
    return api_call(api, path, body)


def api_get(api: str, path: str):
    """GET from a Prefect server's REST API; the decoded answer."""
    return api_call(api, path)


def temporary_servers_of(prefect_home: str) -> list[int]:
    """PIDs of Prefect temporary servers started with this PREFECT_HOME."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"create_app" in cmdline and f"PREFECT_HOME={prefect_home}".encode() in environ:
                pids.append(int(entry.name))
    return pids
