r"""Batch prediction of image folders into one CSV: list, cut into chunks, classify, merge.

Files are listed in a stable order (folder as given, then path) and cut into chunks; each chunk's
rows go to one part file in `<out>.parts/`, written atomically; merging writes the final CSV
atomically and removes the parts. A killed run keeps its finished parts, so `resume` redoes only the
missing files. Every directory entry that is not a folder (or hidden) gets exactly one row: `ok`,
`low_confidence`, `several_digits` (the ink is over twice as wide as tall: a number, see below),
`blank` or `error` (pipes, sockets, devices and broken or looping links included: they are never
opened in a way that could block).

With `numbers=True` each file is read as a whole number (nnmodel.numbers) and its row has the
columns NUMBER_COLUMNS instead: the digits left to right as text (leading zeros kept), their count,
the lowest digit confidence, each digit's confidence (`;`-separated) and its columns in the image
(`x0:x1`, `;`-separated); status `ok`, `low_confidence` (some digit below the threshold), `blank`
or `error`.

The CSV follows RFC 4180 (CRLF line ends, so a CR or LF inside a file name is quoted). Text columns
(folder, path, error) are written by `cell`: a backslash is doubled, each byte of a name that is not
UTF-8 becomes `\xNN`, and a value starting with `=`, `+`, `-`, `@`, a tab, a CR or `'` gets a `'`
in front, so that a spreadsheet shows it as text instead of running it as a formula (OWASP "CSV
injection"). `uncell` reverses all of it.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import heapq
import os
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.errors import SetupError
from nnmodel.layout import check_writable
from nnmodel.modelfile import load_model
from nnmodel.preprocess import Preprocessed, preprocess_files

COLUMNS = ["folder", "path", "predicted", "confidence", *[f"p{d}" for d in range(10)], "status", "error"]
NUMBER_COLUMNS = ["folder", "path", "number", "count", "confidence", "digit_confidences", "boxes", "status", "error"]
COL = {name: i for i, name in enumerate(COLUMNS)}  # folder, path, status and error: the same in both
STATUSES = ("ok", "low_confidence", "several_digits", "blank", "error")
SEVERAL_DIGITS = 2.05  # ink over twice as wide as tall (no MNIST test digit is): a number (see --numbers)
MAX_CHUNK, MIN_CHUNK = 5000, 256
LINE_END = "\r\n"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_ESCAPES = re.compile(r"(\\\\|\\x[0-9a-f]{2})")


def cell(text: str) -> str:
    """A text column's value as written (see the module docstring): CSV- and spreadsheet-safe, and
    valid UTF-8 whatever the file name's bytes."""
    if text.isascii() and "\\" not in text and not text.startswith(FORMULA_START):
        return text  # the common case, at C speed
    escaped = text.replace("\\", "\\\\").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "'" + escaped if escaped.startswith(FORMULA_START) else escaped


def uncell(value: str) -> str:
    """The text behind a `cell` value (a file name comes back with its original bytes, as os.fsdecode
    would give them)."""
    if value.startswith("'"):
        value = value[1:]
    raw = bytearray()
    for part in _ESCAPES.split(value):
        if part == "\\\\":
            raw += b"\\"
        elif _ESCAPES.fullmatch(part):
            raw.append(int(part[2:], 16))
        else:
            raw += part.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


# ------------------------------------------------------------------ the output, checked and locked

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


# ------------------------------------------------------------------ listing and planning

def columns(numbers: bool = False) -> list[str]:
    """The CSV columns of a digit run, or of a `numbers` run."""
    return NUMBER_COLUMNS if numbers else COLUMNS


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


def plan_batch(folders: list[str], out: str | os.PathLike, recursive: bool = False, chunk_size: int | None = None,
               resume: bool = False, workers: int = 1, numbers: bool = False) -> dict:
    """List the files, drop those already done (when resuming), cut the rest into chunks.

    Returns {"chunks": [[part file, [(folder, path), ...]], ...], "skipped": n, "total": n,
    "counts": [counts of rows already written as parts (unreadable folders)], "started": time}.
    `chunk_size` None: one chunk per worker, MIN_CHUNK to MAX_CHUNK files each.
    """
    out, started = Path(out), time.time()
    files, unreadable = list_files(folders, recursive)
    folder_errors = [error_row(*e, numbers=numbers) for e in unreadable]
    parts = parts_dir(out)
    skipped = 0
    if resume:
        done = done_keys(out, numbers)
        before = len(files)
        files = [f for f in files if (cell(f[0]), cell(f[1])) not in done]
        folder_errors = [e for e in folder_errors if (e[COL["folder"]], e[COL["path"]]) not in done]
        skipped = before - len(files)
    else:
        shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True, exist_ok=True)
    size = chunk_size or auto_chunk_size(len(files), workers)
    number = next_part_number(out)
    counts = []
    if folder_errors:
        counts.append(write_part(part_path(out, number), folder_errors, numbers))
        number += 1
    chunks = [[str(part_path(out, number + i)), files[start: start + size]]
              for i, start in enumerate(range(0, len(files), size))]
    return {"chunks": chunks, "skipped": skipped, "total": len(files) + skipped + len(folder_errors),
            "counts": counts, "started": started}


def auto_chunk_size(n_files: int, workers: int) -> int:
    """One chunk per worker, MIN_CHUNK to MAX_CHUNK files: every task run has a fixed cost in Prefect,
    so fewer, larger chunks are faster, while MAX_CHUNK bounds the work lost to a kill. (Memory per
    chunk is bounded by preprocess_files' batches, whatever the image sizes.)"""
    return int(min(MAX_CHUNK, max(MIN_CHUNK, -(-n_files // max(workers, 1)))))


# ------------------------------------------------------------------ classifying

def error_row(folder: str, path: str, message: str, numbers: bool = False) -> list:
    """A row for a file or folder that could not be read."""
    return [cell(folder), cell(path), *[""] * (len(columns(numbers)) - 4), "error", cell(message)]


def blank_row(folder: str, path: str, numbers: bool = False) -> list:
    """A row for an image without ink."""
    return [cell(folder), cell(path), *[""] * (len(columns(numbers)) - 4), "blank", ""]


@functools.lru_cache(maxsize=4)
def cached_model(model_dir: str, stamp: float):
    return load_model(model_dir)[0]


def classify_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0) -> list[list]:
    """Rows (lists in COLUMNS order) for (folder, relative path) files; every file gets one."""
    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    results = preprocess_files([os.path.join(folder, rel) for folder, rel in files])
    readable = [i for i, r in enumerate(results) if isinstance(r, Preprocessed) and not r.blank]
    proba = net.predict_proba(np.stack([results[i].pixels.reshape(784) for i in readable])) if readable else None
    # one "%.6f" string per probability, formatted in one pass (np.char.mod is slower)
    texts = list(map("{:.6f}".format, proba.ravel().tolist())) if readable else []
    rows = []
    for (folder, rel), result in zip(files, results):
        if isinstance(result, Exception):
            rows.append(error_row(folder, rel, str(result).replace(os.path.join(folder, rel), rel, 1)))
        elif result.blank:
            rows.append(blank_row(folder, rel))
        else:
            rows.append(None)
    digits = proba.argmax(axis=1).tolist() if readable else []
    for k, (i, digit) in enumerate(zip(readable, digits)):
        text = texts[10 * k: 10 * k + 10]
        status = "ok" if proba[k, digit] >= min_confidence else "low_confidence"
        if results[i].aspect >= SEVERAL_DIGITS:
            status = "several_digits"
        rows[i] = [cell(files[i][0]), cell(files[i][1]), digit, text[digit], *text, status, ""]
    return rows


def read_number_files(model_dir: str, files: list[tuple[str, str]], min_confidence: float = 0.0) -> list[list]:
    """Rows (lists in NUMBER_COLUMNS order) for (folder, relative path) files, each read as a whole
    number; every file gets one."""
    from nnmodel.numbers import read_numbers

    net = cached_model(model_dir, os.stat(Path(model_dir) / "model.npz").st_mtime)
    rows = []
    for (folder, rel), read in zip(files, read_numbers([os.path.join(folder, rel) for folder, rel in files], net)):
        if isinstance(read, Exception):
            rows.append(error_row(folder, rel, str(read).replace(os.path.join(folder, rel), rel, 1), numbers=True))
        elif read.blank:
            rows.append(blank_row(folder, rel, numbers=True))
        else:
            status = "ok" if read.confidence >= min_confidence else "low_confidence"
            rows.append([cell(folder), cell(rel), read.text, len(read.digits), f"{read.confidence:.6f}",
                         ";".join(f"{d.confidence:.6f}" for d in read.digits),
                         ";".join(f"{d.box[0]}:{d.box[1]}" for d in read.digits), status, ""])
    return rows


def classify_to_part(model_dir: str, files: list[tuple[str, str]], part: str, min_confidence: float = 0.0,
                     numbers: bool = False) -> dict:
    """Classify `files` (or read them as numbers) into the part file `part` (atomically); returns its counts."""
    read = read_number_files if numbers else classify_files
    return write_part(Path(part), read(model_dir, [tuple(f) for f in files], min_confidence), numbers)


def classify_chunk(model_dir: str, files: list[tuple[str, str]], part: str, min_confidence: float = 0.0,
                   processes: int = 0, numbers: bool = False) -> dict:
    """`classify_to_part`, in this machine's shared pool of `processes` processes (true parallelism
    for the CPU-bound decoding), or here when 0 (as on a Dask worker, already its own process)."""
    if processes:
        return process_pool(processes).submit(classify_to_part, model_dir, files, part, min_confidence,
                                              numbers).result()
    return classify_to_part(model_dir, files, part, min_confidence, numbers)


_POOLS: dict[int, object] = {}


def process_pool(workers: int):
    """A pool of `workers` processes forked from a clean server that has this module loaded, made once
    per process and reused by every chunk (starting it costs ~0.1 s, not Prefect's seconds)."""
    if workers not in _POOLS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["nnmodel.batch"])
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=one_blas_thread)
    return _POOLS[workers]


def close_pools() -> None:
    """Stop the pools' processes (a command calls this when it is done, rather than leave them to
    the interpreter's shutdown, where half-torn-down modules make the executor's clean-up fail)."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def one_blas_thread() -> None:
    """Pool workers already fill the cores: a BLAS thread pool in each would only fight the others."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


# ------------------------------------------------------------------ counting

def count_rows(rows) -> dict:
    """{"rows", "status": {status: n}, "digits": {digit: n}} of rows (of either kind: the digit or
    number read is the third column, the status the last but one)."""
    status, digits = Counter(), Counter()
    for row in rows:
        status[row[-2]] += 1
        if row[-2] in ("ok", "low_confidence", "several_digits"):
            digits.update(str(row[2]))
    return {"rows": sum(status.values()), "status": {s: status.get(s, 0) for s in STATUSES},
            "digits": {str(d): digits.get(str(d), 0) for d in range(10)}}


def add_counts(counts: list[dict]) -> dict:
    total = {"rows": 0, "status": Counter(), "digits": Counter()}
    for c in counts:
        total["rows"] += c["rows"]
        total["status"].update(c["status"])
        total["digits"].update(c["digits"])
    return {"rows": total["rows"], "status": {s: total["status"].get(s, 0) for s in STATUSES},
            "digits": {str(d): total["digits"].get(str(d), 0) for d in range(10)}}


# ------------------------------------------------------------------ part files and merging

def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def part_path(out: Path, number: int) -> Path:
    return parts_dir(out) / f"part-{number:06d}.csv"


def next_part_number(out: Path) -> int:
    parts = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    return int(parts[-1].stem.split("-")[1]) + 1 if parts else 0


def write_part(path: Path, rows: list[list], numbers: bool = False) -> dict:
    """Write rows (with a header) to `path` atomically; returns their counts. Part files skip fsync:
    a kill cannot lose them, only a power cut, and `--resume` then redoes them."""
    with atomic.atomic_path(path, durable=False) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator=LINE_END)
        writer.writerow(columns(numbers))
        writer.writerows(rows)
    return count_rows(rows)


def read_rows(path: Path):
    """The rows (lists) of a CSV written here: a part or a final CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        yield from reader


def written_sources(out: Path) -> list[Path]:
    """The finished part files of `out` and, if present, the final CSV."""
    sources = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    return [*sources, out] if out.is_file() else sources


def check_resumable(out: Path, numbers: bool = False) -> None:
    """SetupError (one line naming --out) unless what `out` already holds is rows of this kind of run
    (digits, or `numbers`): anything else cannot be merged with them."""
    for src in written_sources(out):
        try:
            with open(src, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
        except (UnicodeDecodeError, csv.Error):
            header = []
        if header == columns(numbers):
            continue
        if header == columns(not numbers):
            held, flag = ("single digits", "without") if numbers else ("whole numbers", "with")
            raise SetupError(f"--out {out}: holds {held}; resume it {flag} --numbers, or write another file")
        raise SetupError(f"--out {out}: {src.name} is not a CSV written by digits predict; --resume would lose it")


def done_keys(out: Path, numbers: bool = False) -> set[tuple[str, str]]:
    """(folder, path) of rows already written: finished parts and, if present, the final CSV."""
    check_resumable(out, numbers)
    sources = written_sources(out)
    return {(row[COL["folder"]], row[COL["path"]]) for src in sources for row in read_rows(src)}


def merge_parts(out: Path, folders: list[str], resume: bool, counts: list[dict] | None = None,
                numbers: bool = False) -> dict:
    """Merge the part files into `out` atomically and remove them; returns the row counts.

    A fresh run's parts are sorted and disjoint by construction, so they are concatenated as bytes.
    A resumed run (whose parts, and old CSV, can interleave) is merged row by row: a streaming k-way
    merge ordered by (folder as given, path), each row kept once.
    """
    parts = sorted(parts_dir(out).glob("part-*.csv")) if parts_dir(out).is_dir() else []
    if not resume:
        with atomic.atomic_path(out) as tmp, open(tmp, "wb") as sink:
            sink.write((",".join(columns(numbers)) + LINE_END).encode())
            for part in parts:
                with open(part, "rb") as src:
                    src.readline()  # header
                    shutil.copyfileobj(src, sink)
        shutil.rmtree(parts_dir(out), ignore_errors=True)
        return add_counts(counts or [])
    order = input_folders(folders)
    sources = parts + ([out] if out.is_file() else [])

    def keyed(src):
        for row in read_rows(src):
            folder, path = row[COL["folder"]], row[COL["path"]]
            yield (order.get(folder, len(order)), folder, path), row

    def written_once(writer):
        seen = set()
        for key, row in heapq.merge(*(keyed(s) for s in sources), key=lambda kr: kr[0]):
            if key not in seen:  # a row can only come once, even if a part was written twice
                seen.add(key)
                writer.writerow(row)
                yield row

    with atomic.atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator=LINE_END)
        writer.writerow(columns(numbers))
        counts = count_rows(written_once(writer))
    shutil.rmtree(parts_dir(out), ignore_errors=True)
    return counts


def merge_predictions(out: str | os.PathLike, folders: list[str], resume: bool, started: float,
                      counts: list[dict], numbers: bool = False) -> dict:
    """Merge the parts into the final CSV and write `<out>.summary.json`; returns the summary."""
    out = Path(out)
    summary = merge_parts(out, folders, resume, counts, numbers)
    seconds = time.time() - started
    summary.update({"out": str(out), "seconds": round(seconds, 3),
                    "images_per_second": round(summary["rows"] / seconds, 1) if seconds > 0 else None})
    atomic.write_json(out.with_name(out.name + ".summary.json"), summary)
    return summary
