"""Part files and the final CSV: each chunk's rows go to `<out>.parts/part-N.csv` (atomically); merging
writes the final CSV atomically and removes the parts. A killed run keeps its finished parts, so a
resumed run redoes only the missing files."""
from __future__ import annotations

import csv
import heapq
import os
import shutil
import time
from pathlib import Path

from nnmodel import atomic
from nnmodel.batch.listing import input_folders
from nnmodel.batch.rows import COL, add_counts, columns, count_rows
from nnmodel.errors import SetupError

LINE_END = "\r\n"


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
