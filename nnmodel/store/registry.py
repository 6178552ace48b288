"""The model registry: version folders under models/ and an atomically switched `current.json`.

models/<version>/        model.npz, model.json, Theta1.txt, Theta2.txt
models/current.json      {"version", "val_accuracy", "promoted_at", "reason"}
models/promotions.jsonl  one line per decision (promoted or not), appended under the lock

Every change happens under an exclusive file lock (models/.lock), so two training runs at once never
interleave their promotions; version folders appear by rename, so a killed run leaves no partial version.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from pathlib import Path

from nnmodel import atomic
from nnmodel.errors import DataError, ModelFileError, SetupError
from nnmodel.model.modelfile import JSON, read_metadata
from nnmodel.store.layout import Layout, read_record


def new_version_name() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class Registry:
    """Model versions of an artifacts folder."""

    def __init__(self, layout: Layout | str | os.PathLike):
        self.layout = layout if isinstance(layout, Layout) else Layout(layout)
        self.folder = self.layout.models

    @contextlib.contextmanager
    def lock(self):
        """Exclusive lock across processes for the duration of the block."""
        with atomic.storage_errors(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(self.layout.registry_lock, "a+")  # noqa: SIM115 (held for the block)
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def new_version(self):
        """Yield (staging folder, version name); on success the folder becomes models/<version>."""
        version = new_version_name()
        with atomic.atomic_dir(self.layout.model_dir(version), replace=False) as staging:
            yield staging, version

    def versions(self) -> list[str]:
        """Version names, oldest first (only complete folders)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / JSON).is_file())

    def path(self, version: str) -> Path:
        """The folder of `version`; SetupError when there is no such version."""
        if not isinstance(version, str) or "/" in version or version.startswith(".") or not version:
            raise SetupError(f"{version!r}: not a model version name (see `digits models list`)")
        folder = self.layout.model_dir(version)
        if not (folder / JSON).is_file():
            raise SetupError(f"{folder}: no such model version (see `digits models list`)")
        return folder

    def metadata(self, version: str) -> dict:
        return read_metadata(self.path(version))

    def current(self) -> dict | None:
        """The current.json record ({"version", ...}), or None when nothing has been promoted yet."""
        path = self.layout.current_model_file
        if not path.is_file():
            return None
        try:
            record = read_record(path, "current-model record")
        except DataError as exc:
            raise ModelFileError(str(exc)) from None
        if not isinstance(record.get("version"), str) or not record["version"]:
            raise ModelFileError(f"{path}: 'version' is missing or not a version name "
                                 "(fix it with `digits models promote VERSION`)")
        return record

    def resolve(self, version: str | None = None) -> Path:
        """Folder of `version`, or of the current model; SetupError explains how to get one."""
        if version:
            return self.path(version)
        current = self.current()
        if current is None:
            raise SetupError(f"no trained model in {self.folder}: run `digits train` first")
        return self.path(current["version"])

    def promote(self, version: str, force: bool = False, reason: str = "", scores: dict | None = None) -> dict:
        """Make `version` current if its validation accuracy beats the current model's (or `force`).

        `scores`, when given, are both models measured on the same data:
        {"current": VERSION or None, "candidate": {"validation": acc, "test": acc}, "current_scores": {...}};
        they are used if VERSION is still the current model when the lock is taken, else the
        accuracies recorded in each model's metadata are compared.
        Returns the decision (promoted, both versions and accuracies, why), also appended to
        promotions.jsonl.
        """
        with self.lock():
            try:
                current = self.current()
            except ModelFileError:
                if not force:
                    raise
                current = None  # a broken current.json is replaced by a forced promotion
            current_version = current["version"] if current else None
            current_exists = current is not None and (self.layout.model_dir(current_version) / JSON).is_file()
            same_data = scores is not None and scores.get("current") == current_version
            if same_data:
                candidate_acc = scores["candidate"].get("validation")
                current_acc = (scores.get("current_scores") or {}).get("validation")
            else:
                candidate_acc = _val_accuracy(self.metadata(version))
                current_acc = _val_accuracy(self.metadata(current_version)) if current_exists else None
            if current is not None and current_version == version:
                promoted, why = False, "already current"
            elif force:
                promoted, why = True, "forced"
            elif current is None or current_acc is None:
                promoted, why = True, "no current model"
            elif candidate_acc is not None and candidate_acc > current_acc:
                promoted, why = True, "better validation accuracy"
            else:
                promoted, why = False, "not better than the current model on validation accuracy"
            decision = {"promoted": promoted, "reason": why, "candidate": version,
                        "candidate_val_accuracy": candidate_acc, "current": current_version,
                        "current_val_accuracy": current_acc, "compared_on_same_data": bool(same_data),
                        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            if same_data:
                decision["candidate_test_accuracy"] = scores["candidate"].get("test")
                decision["current_test_accuracy"] = (scores.get("current_scores") or {}).get("test")
            if promoted:
                atomic.write_json(self.layout.current_model_file, {
                    "version": version, "val_accuracy": candidate_acc, "promoted_at": decision["at"],
                    "reason": reason or why})
            with open(self.layout.promotions_log, "a") as log:
                log.write(json.dumps(decision) + "\n")
            return decision


def _val_accuracy(metadata: dict) -> float | None:
    value = (metadata.get("metrics") or {}).get("validation", {}).get("accuracy")
    return value if isinstance(value, (int, float)) else None
