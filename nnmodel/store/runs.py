"""Training runs: one at a time per artifacts folder, each one recorded, even when it is killed.

  runs/.training.lock     held (flock) by the run in progress; a second run does not wait: it is
                          recorded as `skipped` (the run in progress trains on the same data)
  runs/<run>/run.json     a run in progress (started, pid, parameters); its owner holds
                          runs/<run>/.owner.lock, so a killed run is told apart from a live one
  runs/history.jsonl      one line per finished run: promoted, not promoted, skipped, failed, crashed

Locks are released by the kernel when their process dies, so a killed run never blocks the next.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from nnmodel import atomic
from nnmodel.store.layout import Layout

OWNER_LOCK = ".owner.lock"
_HELD: dict[str, list] = {}   # run id -> open lock files of the runs this process owns


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def try_lock(path: Path):
    """An open file holding an exclusive flock on `path`, or None if another holder has it."""
    fh = open(path, "a+")  # noqa: SIM115 (returned open: the lock lives as long as the file)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def start_run(layout: Layout, run_id: str, info: dict) -> bool:
    """Take the training lock and record `run_id` as running (with `info`: preset, flow run id ...).

    Returns False, after recording the run as `skipped`, when another run holds the lock. Runs that
    were killed are recorded as `crashed` and their leftovers removed first.
    """
    with atomic.storage_errors(layout.runs):
        layout.runs.mkdir(parents=True, exist_ok=True)
        training = try_lock(layout.training_lock)
    if training is None:
        record_finished(layout, {"run": run_id, **info, "started": now(), "outcome": "skipped",
                                 "reason": "another training run is in progress in this artifacts folder"})
        return False
    record_crashed_runs(layout)
    with atomic.atomic_dir(layout.run_dir(run_id), replace=False) as tmp:  # appears with its owner lock held
        owner = try_lock(tmp / OWNER_LOCK)
        atomic.write_json(tmp / "run.json", {"run": run_id, **info, "started": now(), "outcome": "running",
                                             "pid": os.getpid(), "t0": time.time()})
    _HELD[run_id] = [training, owner]
    return True


def finish_run(layout: Layout, run_id: str, entry: dict) -> dict:
    """Record how `run_id` ended (entry: outcome, scores, ...), remove its folder, release its locks."""
    folder = layout.run_dir(run_id)
    started = _read_json(folder / "run.json") or {}
    t0 = started.pop("t0", None)
    seconds = {"seconds": round(time.time() - t0, 1)} if isinstance(t0, (int, float)) else {}
    record = record_finished(layout, {**started, **seconds, **entry, "run": run_id})
    shutil.rmtree(folder, ignore_errors=True)
    for fh in _HELD.pop(run_id, []):
        with contextlib.suppress(OSError):
            fh.close()  # closing releases the flock
    return record


def outcome_of(decision: dict) -> dict:
    """The history entry of a run that registered a model, from the registry's decision."""
    return {"outcome": "promoted" if decision["promoted"] else "not promoted", "reason": decision["reason"],
            "version": decision["candidate"], "current_before": decision["current"],
            "challenger": {"validation": decision["candidate_val_accuracy"],
                           "test": decision.get("candidate_test_accuracy")},
            "champion": {"validation": decision["current_val_accuracy"],
                         "test": decision.get("current_test_accuracy")},
            "feedback": decision.get("feedback"), "report": decision.get("report"),
            "data_dir": decision.get("data_dir")}


def failure_of(outcome: str, error: BaseException | None = None, message: str = "") -> dict:
    """The history entry of a run that ended without a model: failed (an error), crashed (killed,
    interrupted) or cancelled."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, Exception) else message or "no error recorded"
    return {"outcome": outcome, "error": text[:300]}


def run_of_flow_run(layout: Layout, flow_run_id: str) -> str | None:
    """The id of the run in progress that the flow run `flow_run_id` started, if any."""
    for run in _run_folders(layout):
        if (_read_json(run / "run.json") or {}).get("flow_run_id") == str(flow_run_id):
            return run.name
    return None


def record_finished(layout: Layout, entry: dict) -> dict:
    """Append one run's outcome to runs/history.jsonl (one JSON line, one write: never interleaved)."""
    entry = {"recorded": now(), **entry}
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    with atomic.storage_errors(layout.run_history):
        layout.runs.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.run_history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # less the umask
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return entry


def record_crashed_runs(layout: Layout) -> list[str]:
    """Record runs whose owner is gone (killed) as `crashed` and remove their folders; their ids."""
    crashed = []
    for folder in _run_folders(layout):
        if _owner_alive(folder):
            continue
        record = _read_json(folder / "run.json") or {"run": folder.name}
        orphans = remove_unfinished_versions(layout, folder.name)
        record_finished(layout, {**record, "outcome": "crashed",
                                 "reason": "the process ended without finishing (killed?)"
                                 + (f"; removed the version it had registered ({', '.join(orphans)})" if orphans
                                    else "")})
        shutil.rmtree(folder, ignore_errors=True)
        crashed.append(folder.name)
    return crashed


def remove_unfinished_versions(layout: Layout, run_id: str) -> list[str]:
    """Model versions that run `run_id` registered but never finished deciding about (killed between
    registering and promoting): removed, unless one of them became current. Their names."""
    from nnmodel.errors import DigitsError
    from nnmodel.store.registry import Registry

    registry = Registry(layout)
    removed = []
    with registry.lock():
        try:
            current = (registry.current() or {}).get("version")
        except DigitsError:
            current = None
        for version in registry.versions():
            try:
                run = registry.metadata(version).get("run")
            except DigitsError:
                continue
            if run == run_id and version != current:
                shutil.rmtree(layout.model_dir(version), ignore_errors=True)
                removed.append(version)
    return removed


def read_runs(layout: Layout, limit: int | None = None) -> list[dict]:
    """Runs newest first: those in progress (`running`, or `crashed` when their owner is gone),
    then the finished ones; history lines that cannot be read (cut by a crash) are skipped."""
    runs = []
    if layout.run_history.is_file():
        for line in layout.run_history.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    runs.append(record)
    for folder in _run_folders(layout):
        record = _read_json(folder / "run.json") or {"run": folder.name, "started": ""}
        if not _owner_alive(folder):
            record = {**record, "outcome": "crashed", "reason": "the process ended without finishing (killed?)"}
        runs.append(record)
    runs.sort(key=lambda r: str(r.get("started") or r.get("recorded") or ""), reverse=True)
    return runs[:limit] if limit else runs


def _run_folders(layout: Layout) -> list[Path]:
    try:
        return sorted(p for p in layout.runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _owner_alive(folder: Path) -> bool:
    """Whether the process that started the run in `folder` still holds its owner lock."""
    if not (folder / OWNER_LOCK).exists():
        return False
    fh = try_lock(folder / OWNER_LOCK)
    if fh is None:
        return True
    fh.close()
    return False


def _read_json(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def started_by(created_by: str | None, auto_scheduled: bool) -> str:
    """What started a flow run, from what the Prefect server records of it (the type of its creator,
    and whether the scheduler made it): on-feedback (an automation: the feedback trigger), scheduled,
    or manual (a command, or a run asked for by hand)."""
    if (created_by or "").upper().endswith("AUTOMATION"):
        return "on-feedback"
    return "scheduled" if auto_scheduled else "manual"
