"""The artifact layout: the one place that knows every path under the artifacts folder.

  raw/<dataset>-<digest>/            verified arrays (.npy) + raw.json          raw/downloads/  .gz files
  data/<dataset>-<digest>[+...]/     Parquet splits + manifest.json (folder named by its inputs' digest)
  models/<version>/ + current.json   the registry (promotions.jsonl, .lock)
  reports/<name>/                    evaluation reports
  feedback/<digit>/                  labelled images (the viewer's corrections)
  predictions/                       batch prediction CSVs (the default --out)
  runs/                              training runs: history.jsonl, <run>/ while one runs, locks
  explanations/                      `digits explain` pictures
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nnmodel import atomic
from nnmodel.errors import DataError, as_storage_error

DEFAULT_ROOT = "artifacts"
LAYERS = ("raw", "data", "models", "reports", "feedback", "predictions", "runs", "explanations")


class Layout:
    """Paths of one artifacts folder (nothing is created until something is written)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @classmethod
    def locate(cls, explicit: str | os.PathLike | None = None) -> Layout:
        """--artifacts DIR, else $DIGITS_HOME, else ./artifacts (made absolute)."""
        root = explicit or os.environ.get("DIGITS_HOME") or DEFAULT_ROOT
        return cls(Path(root).expanduser().resolve())

    def __repr__(self) -> str:
        return f"Layout({str(self.root)!r})"

    # ------------------------------------------------------------------ layers

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def downloads(self) -> Path:
        return self.raw / "downloads"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def explanations(self) -> Path:
        return self.root / "explanations"

    # ------------------------------------------------------------------ folders and files in them

    def raw_dir(self, dataset: str, digest: str) -> Path:
        return self.raw / f"{dataset}-{digest[:12]}"

    def data_dir(self, dataset: str, digest: str) -> Path:
        return self.data / f"{dataset}-{digest[:16]}"

    def derived_data_dir(self, base: str | os.PathLike, what: str, digest: str) -> Path:
        """A data folder derived from `base` (e.g. with feedback added): `<base>+<what>-<digest>`."""
        return self.data / f"{Path(base).name}+{what}-{digest[:12]}"

    def model_dir(self, version: str) -> Path:
        return self.models / version

    @property
    def current_model_file(self) -> Path:
        return self.models / "current.json"

    @property
    def promotions_log(self) -> Path:
        return self.models / "promotions.jsonl"

    @property
    def registry_lock(self) -> Path:
        return self.models / ".lock"

    def report_dir(self, name: str) -> Path:
        return self.reports / name

    def default_predictions_csv(self) -> Path:
        return self.predictions / f"predictions-{time.strftime('%Y%m%d-%H%M%S')}.csv"

    def run_dir(self, run: str) -> Path:
        return self.runs / run

    @property
    def run_history(self) -> Path:
        return self.runs / "history.jsonl"

    @property
    def training_lock(self) -> Path:
        return self.runs / ".training.lock"

    # ------------------------------------------------------------------ records

    def manifest(self, data_dir: str | os.PathLike) -> dict:
        """manifest.json of a data folder; DataError names the file when it is missing or unreadable."""
        return read_record(Path(data_dir) / "manifest.json", "data manifest")

    def raw_record(self, raw_dir: str | os.PathLike) -> dict:
        """raw.json of a raw-layer folder (digests, origin, how it was verified)."""
        return read_record(Path(raw_dir) / "raw.json", "raw-layer record")

    def check_writable(self) -> None:
        """StorageError (one line) unless files can be created in the artifacts folder: checked
        before any work starts."""
        check_writable(self.root)

    def remove_stale(self) -> list[Path]:
        """Remove what killed commands left in every layer and in the folders inside the runs, reports
        and feedback layers (only files of processes that are gone)."""
        removed = []
        for folder in (self.root, *(self.root / layer for layer in LAYERS), *self._folders_in(self.runs),
                       *self._folders_in(self.reports), *self._folders_in(self.feedback)):
            removed += atomic.remove_stale(folder)
        return removed

    @staticmethod
    def _folders_in(layer: Path) -> list[Path]:
        try:
            return [p for p in layer.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            return []


def read_record(path: Path, what: str) -> dict:
    """A JSON object from `path`; DataError (one line naming the file) when missing or malformed."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no {what} (incomplete or removed folder?)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: unreadable {what} ({exc})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}: {what} is not a JSON object")
    return record


def check_writable(folder: str | os.PathLike) -> None:
    """StorageError naming `folder` unless it exists (or can be made) and a file can be created in it."""
    folder = Path(folder)
    with atomic.storage_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    probe = atomic.temp_path(folder / "write-check")
    try:
        probe.touch()
    except OSError as exc:  # named by the folder: the probe's temporary name means nothing to a user
        raise as_storage_error(folder, OSError(exc.errno, exc.strerror)) from None
    probe.unlink()
