"""Listing the inputs of a batch: every non-hidden directory entry that is not a folder, in a stable
order (the folder as given, then the path's CSV text); a file given as an input is one entry itself."""
from __future__ import annotations

import os
from pathlib import Path

from nnmodel.batch.cells import cell


def input_folders(inputs: list[str]) -> dict[str, int]:
    """The CSV's `folder` of each input (a folder as given; a file's folder, see file_entry) -> the
    position of the first input that names it: the order of the rows."""
    order: dict[str, int] = {}
    for i, name in enumerate(inputs):
        order.setdefault(name if os.path.isdir(name) else file_entry(name)[0], i)
    return order


def file_entry(path: str) -> tuple[str, str]:
    """(folder, path) of a file given as an input itself: its folder as given ("." when none), its name."""
    return os.path.dirname(path) or ".", os.path.basename(path)


def list_files(folders: list[str], recursive: bool = False) -> tuple[list[tuple[str, str]], list[tuple]]:
    """(folder as given, path relative to it) for every non-hidden directory entry that is not a
    folder (files, links, pipes ...), sorted by their CSV text; plus (folder, path, message) of the
    sub-folders that could not be read (so they are reported as error rows, not silently dropped).
    An input that is not a folder is one entry itself (file_entry)."""
    entries, errors = [], []
    for folder in folders:
        base = Path(folder)
        if not os.path.isdir(folder):
            entries.append(file_entry(folder))
        elif recursive:
            def onerror(exc, folder=folder, base=base):
                rel = os.path.relpath(exc.filename, base) if exc.filename else "."
                errors.append((folder, rel + "/", f"cannot read folder ({exc.strerror})"))
            for dirpath, dirnames, filenames in os.walk(base, onerror=onerror):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel_dir = os.path.relpath(dirpath, base)
                entries += [(folder, os.path.normpath(os.path.join(rel_dir, name))) for name in filenames
                            if not name.startswith(".")]
        else:
            try:
                with os.scandir(base) as listing:  # file types come with the listing: no stat per file
                    entries += [(folder, e.name) for e in listing if not e.name.startswith(".") and not _is_folder(e)]
            except OSError as exc:
                errors.append((folder, ".", f"cannot read folder ({exc.strerror})"))
    order = input_folders(folders)
    entries = sorted(set(entries), key=lambda e: (order[e[0]], cell(e[1])))  # a file given twice: one row
    return entries, errors


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether an entry is a folder (or a link to one); a link that loops or dangles is not."""
    try:
        return entry.is_dir()
    except OSError:
        return False
