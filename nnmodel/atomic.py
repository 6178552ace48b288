"""The one way to write: every file and folder appears whole or not at all.

Work goes to a hidden temporary name beside the target (`.NAME.<owner>.<random>.partial`), which is
renamed into place on success and removed on failure. `<owner>` identifies the writing process (pid
and start time), so the next command can remove the leftovers of a killed one (`remove_stale`) without
touching the work of a live one.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from nnmodel.errors import as_storage_error

SUFFIXES = (".partial", ".old")
UNOWNED_STALE_AFTER = 24 * 3600   # seconds: leftovers without an owner token (older versions) after a day


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def owner_token(pid: int | None = None) -> str:
    """`<pid>-<start ticks>` of this (or another) process: unique even when pids are reused."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_ticks(pid) or 0}"


def owner_alive(token: str) -> bool:
    """Whether the process named by an owner token still runs."""
    pid, _, ticks = token.partition("-")
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    actual = _start_ticks(int(pid))
    return actual is None or ticks in ("0", actual)


def temp_path(target: Path, suffix: str = ".partial") -> Path:
    return target.with_name(f".{target.name}.{owner_token()}.{secrets.token_hex(4)}{suffix}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def storage_errors(path):
    """Within the block, the system's write faults (no space, read-only, permission, too many open
    files ...) become a one-line StorageError naming `path`."""
    try:
        yield
    except OSError as exc:
        fault = as_storage_error(path, exc)
        if fault is exc:
            raise
        raise fault from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, durable: bool = True):
    """Yield a temporary path beside `target`; on success rename it over `target`, else delete it.
    `durable` also syncs the data to disk before the rename (survives a power cut, not only a kill).
    A write fault of the system is a StorageError naming `target`."""
    target = Path(target)
    with storage_errors(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        with storage_errors(target):
            yield tmp
            if durable:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str, durable: bool = True) -> Path:
    return write_bytes(target, text.encode("utf-8"), durable)


def write_json(target: str | os.PathLike, obj) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, replace: bool = True):
    """Yield a temporary folder beside `target`; on success it becomes `target`.

    With `replace`, an existing `target` is swapped out (readers see the whole old folder or the
    whole new one); without, an existing `target` raises FileExistsError and nothing changes.
    """
    target = Path(target)
    with storage_errors(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(target)
        tmp.mkdir()
    try:
        with storage_errors(target):
            yield tmp
        if target.exists():
            if not replace:
                raise FileExistsError(f"{target}: already exists")
            old = temp_path(target, ".old")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_new_file(folder: str | os.PathLike, make_name, data: bytes, attempts: int = 100) -> Path:
    """Write `data` to `folder / make_name()` without ever overwriting: the finished temporary file
    is hard-linked to a free name (a taken one is retried with a fresh `make_name()`)."""
    folder = Path(folder)
    tmp = temp_path(folder / "new")
    try:
        with storage_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for _ in range(attempts):
            target = folder / make_name()
            try:
                os.link(tmp, target)  # fails if the name exists: never overwrites
            except FileExistsError:
                continue
            _fsync_dir(folder)
            return target
        raise FileExistsError(f"{folder}: could not find a free file name")
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders in `folder` left by processes that are gone (a kill);
    returns what was removed. Leftovers of live processes are kept."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(SUFFIXES)):
                continue
            parts = entry.name.rsplit(".", 3)  # [".NAME", "<owner>", "<random>", "partial"]
            token, stale = (parts[1] if len(parts) == 4 else ""), False
            if "-" in token and token.split("-")[0].isdigit():
                stale = not owner_alive(token)
            else:
                with contextlib.suppress(OSError):
                    stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > UNOWNED_STALE_AFTER
            if stale:
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed
