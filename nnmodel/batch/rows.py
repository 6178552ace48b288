"""The rows of a predictions CSV: its columns and statuses, the rows of files that could not be read
or hold no ink, and counting rows by status and digit."""
from __future__ import annotations

from collections import Counter

from nnmodel.batch.cells import cell

COLUMNS = ["folder", "path", "predicted", "confidence", *[f"p{d}" for d in range(10)], "status", "error"]
NUMBER_COLUMNS = ["folder", "path", "number", "count", "confidence", "digit_confidences", "boxes", "status", "error"]
COL = {name: i for i, name in enumerate(COLUMNS)}  # folder, path, status and error: the same in both
STATUSES = ("ok", "low_confidence", "several_digits", "not_a_digit", "blank", "error")
SEVERAL_DIGITS = 2.05  # ink over twice as wide as tall (no MNIST test digit is): a number (see --numbers)


def columns(numbers: bool = False) -> list[str]:
    """The CSV columns of a digit run, or of a `numbers` run."""
    return NUMBER_COLUMNS if numbers else COLUMNS


def error_row(folder: str, path: str, message: str, numbers: bool = False) -> list:
    """A row for a file or folder that could not be read."""
    return [cell(folder), cell(path), *[""] * (len(columns(numbers)) - 4), "error", cell(message)]


def blank_row(folder: str, path: str, numbers: bool = False) -> list:
    """A row for an image without ink."""
    return [cell(folder), cell(path), *[""] * (len(columns(numbers)) - 4), "blank", ""]


def not_a_number_row(folder: str, path: str, marks: int, threshold: float) -> list:
    """A numbers row for an image whose ink holds no digit (every mark on it is not a digit)."""
    what = "the mark on it is" if marks == 1 else f"none of its {marks} marks is"
    return [cell(folder), cell(path), *[""] * (len(NUMBER_COLUMNS) - 4), "not_a_digit",
            f"no number: {what} a digit (not-a-digit threshold {threshold:.0%})"]


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
