"""Training runs: one at a time per artifacts folder, each recorded in runs/history.jsonl.

A training run holds an exclusive lock (runs/.training.lock) from start to registration. A run that
finds the lock taken does not wait: it is recorded as `skipped` and ends, since the run in progress
trains on the same data and the next scheduled run picks up anything newer.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

HISTORY = "history.jsonl"


@contextlib.contextmanager
def exclusive_training(artifacts: str | os.PathLike):
    """Yield True while holding the training lock, or False at once when another run holds it."""
    folder = Path(artifacts) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".training.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            fh.seek(0), fh.truncate(), fh.write(f"{os.getpid()}\n"), fh.flush()
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record_run(artifacts: str | os.PathLike, entry: dict) -> dict:
    """Append one run's outcome to runs/history.jsonl (one JSON line, written in a single append)."""
    folder = Path(artifacts) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(folder / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write on an O_APPEND file: concurrent runs never interleave lines
    finally:
        os.close(fd)
    return entry


def read_runs(artifacts: str | os.PathLike, limit: int | None = None) -> list[dict]:
    """Recorded runs, newest first; unreadable lines (e.g. cut by a crash) are skipped."""
    path = Path(artifacts) / "runs" / HISTORY
    if not path.is_file():
        return []
    runs = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            runs.append(json.loads(line))
    runs.reverse()
    return runs[:limit] if limit else runs
