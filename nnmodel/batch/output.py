"""The CSV a batch writes, checked before any work and locked while it is written."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from nnmodel import atomic
from nnmodel.errors import SetupError
from nnmodel.store.layout import check_writable


def check_output(out: str | os.PathLike, folders: list[str], recursive: bool = False) -> Path:
    """The absolute path of the CSV a batch will write, checked before any work: not a folder, not
    one of the input files, not inside a folder being classified (it would be read as an input, or
    overwrite one), and in a place where files can be written. SetupError or StorageError, one line
    naming --out. `folders` are the inputs: folders, or files classified on their own."""
    out = Path(out).absolute()
    if out.is_dir():
        raise SetupError(f"--out {out}: is a folder; give a CSV file name")
    for folder in folders:
        if not Path(folder).is_dir():
            if out.resolve() == Path(folder).resolve():
                raise SetupError(f"--out {out}: is one of the input images ({folder}); write the CSV somewhere else")
            continue
        base = Path(folder).resolve()
        inside = base in out.resolve().parents if recursive else out.resolve().parent == base
        if inside:
            raise SetupError(f"--out {out}: is inside the folder being classified ({folder}); "
                             "write the CSV somewhere else")
    check_writable(out.parent)
    return out


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold `.<out name>.lock` beside the CSV for the block; SetupError at once when another run
    holds it (two runs writing one CSV would corrupt it). The lock ends with its process."""
    lock = out.with_name(f".{out.name}.lock")
    with atomic.storage_errors(lock):
        fh = open(lock, "a+")  # noqa: SIM115 (held for the block)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SetupError(f"--out {out}: another digits predict is writing it (its lock {lock.name} is "
                             "held); wait for it, or write another file") from None
        yield out
    finally:
        fh.close()
