"""A command whose Prefect server goes away ends promptly, in one line.

Prefect keeps trying a server that was stopped or killed under a running command: its clients retry,
its events worker retries a queued event every few seconds at exit, and its loggers print tracebacks.
A command using a kept server (`digits server start`, or PREFECT_API_URL) therefore watches it: when
/health has not answered for GONE_AFTER seconds, or the command's own call to it failed and it does
not answer, the command says so in one line and ends at once (status 1). What it had finished is
whole (every artifact is written atomically; a batch's finished chunks stay for `--resume`); its
children end with it (`cli.lifeline`), and its flow run, left RUNNING on the server, is marked
Crashed by the server's zombie rule once its heartbeats stop (`prefect_env.ensure_zombie_automation`).
"""
from __future__ import annotations

import os
import sys
import threading
import time

from cli.local_server import answers

GONE_AFTER = 3.0   # seconds without an answer from /health
EVERY = 1.0        # seconds between two checks

_api: str | None = None
_notes: list = []  # callables -> str | None: what the command kept, said after the server went away


def note(what) -> None:
    """Add `what()` (a line or None, computed when the server has gone) to the one line said then."""
    _notes.append(what)


def gone_line(api: str) -> str:
    kept = [line for line in (what() for what in _notes) if line]
    return (f"error: the Prefect server at {api} went away during this command (stopped or killed?)"
            + "".join(f"; {line}" for line in kept)
            + "; its run will show as crashed once a server is back (`digits server start`)")


def end(api: str) -> None:
    """Say the one line and end this process now (no retries, no exit handlers that wait on the server)."""
    try:
        sys.stdout.flush()
        sys.stderr.write(gone_line(api) + "\n")
        sys.stderr.flush()
    finally:
        os._exit(1)


def server_gone() -> bool:
    """Whether the watched server no longer answers (False when none is watched)."""
    return _api is not None and not answers(_api, timeout=2.0)


def watch(api: str) -> threading.Thread:
    """Watch the server at `api` from a daemon thread until this process ends."""
    global _api
    _api = api

    def loop() -> None:
        silent_since = None
        while True:
            time.sleep(EVERY)
            if answers(api, timeout=2.0):
                silent_since = None
                continue
            silent_since = silent_since or time.monotonic()
            if time.monotonic() - silent_since >= GONE_AFTER:
                end(api)

    thread = threading.Thread(target=loop, name="server-watch", daemon=True)
    thread.start()
    return thread
