"""A training run's model steps: fit a candidate on a data folder, then register it and promote it
only if it beats the current model on the same validation data (champion/challenger).

The candidate is written to runs/<run>/candidate/; the registry only ever sees complete version
folders, so a killed run leaves no partial model.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

from nnmodel.data.shards import load_shard, local_shards, plan_shards
from nnmodel.data.splits import read_split, read_splits
from nnmodel.errors import DigitsError
from nnmodel.model import modelfile, original
from nnmodel.model.families import new_model
from nnmodel.model.presets import describe_copies, recipe
from nnmodel.reports.evaluate import read_test_pixels
from nnmodel.reports.render import read_report, write_report
from nnmodel.store.layout import Layout
from nnmodel.store.registry import Registry


def train_candidate(layout: Layout, data_dir: str | os.PathLike, run_id: str, preset: str = "default",
                    overrides: dict | None = None, distorted_dir: str | os.PathLike | None = None, progress=None,
                    log=print, family: str | None = None, dask: str | None = None) -> Path:
    """Fit the recipe's model (the preset's, or `family`'s defaults, with `overrides`) on the train
    split and its distorted copies (the layer in `distorted_dir`, made for this recipe), checking the
    validation split as it goes; writes runs/<run>/candidate and returns it. The training rows are
    read in shards (nnmodel.model.shards), here or, given `dask` (a scheduler's address), by the
    workers of that Dask cluster: the same model either way."""
    chosen = recipe(preset, family, **(overrides or {}))
    data_dir = Path(data_dir)
    files = [data_dir / "train.parquet", *([Path(distorted_dir) / "train.parquet"] if distorted_dir else [])]
    validation = read_split(data_dir / "validation.parquet")
    model = new_model(chosen["family"], chosen["params"])
    shards = training_shards(files, dask)
    where = {"shards": len(shards), "where": shards.where}
    try:
        rows = sum(spec.rows for spec in plan_shards(files))
        log(f"training {model.describe()} ({model!r}) on {rows:,} images (the originals and "
            f"{describe_copies(chosen['copies'])}), {len(shards)} shards {'on' if dask else 'in'} {shards.where}")
        model.fit_shards(shards, validation=validation, progress=progress)
    finally:
        shards.close()
    candidate = layout.run_dir(run_id) / "candidate"
    distorted = layout.manifest(distorted_dir) if distorted_dir else None
    record = {**model.training_record(), **where}
    record["history"] = [{k: round(v, 6) if isinstance(v, float) else v for k, v in entry.items()}
                         for entry in record.get("history", [])]
    modelfile.save_model(model, candidate, {
        "recipe": chosen, "run": run_id,
        "distorted": {"dir": str(distorted_dir), "digest": distorted["digest"], "count": distorted["count"]}
        if distorted else None,
        "training": record,
    })
    return candidate


def training_shards(files: list[Path], dask: str | None = None):
    """The training rows of `files` in shards: read here, or by the workers of the Dask cluster whose
    scheduler is at `dask`."""
    if dask:
        from nnmodel.model.dask_shards import DaskShards

        return DaskShards(dask, plan_shards(files), load_shard)
    return local_shards(files)


def register_candidate(layout: Layout, candidate_dir: str | os.PathLike, report_dir: str | os.PathLike,
                       data_dir: str | os.PathLike, force_promote: bool = False, log=print) -> dict:
    """Copy the candidate into a new registry version with its metrics; promote it if it beats the
    current model on validation accuracy measured on the same data (or when forced). Rewrites the
    report with both scores and the decision; removes the run's candidate. Returns the decision."""
    registry = Registry(layout)
    model, meta = modelfile.load_model(candidate_dir)
    report = read_report(report_dir)
    manifest = layout.manifest(data_dir)
    metrics = {split: {"accuracy": r["accuracy"], "macro_f1": r["macro"]["f1"]}
               for split, r in {**report["splits"], **report.get("others", {})}.items() if "accuracy" in r}
    with registry.new_version() as (staging, version):
        meta.update({"version": version, "metrics": metrics, "report": str(report_dir),
                     "data": {"dir": str(data_dir), "dataset": manifest["dataset"],
                              "raw_digest": manifest["raw_digest"], "files": manifest["files"],
                              "feedback": manifest.get("feedback")},
                     "libraries": library_versions(), "code_version": code_version(),
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        modelfile.save_model(model, staging, meta)
        if model.thetas() is not None:  # the families of the original project's shape
            original.save_thetas(model, staging)
    scores = {"candidate": {split: metrics[split]["accuracy"] for split in ("validation", "test")},
              **champion_scores(registry, data_dir, log)}
    decision = registry.promote(version, force=force_promote, scores=scores)
    feedback = manifest.get("feedback")
    decision["feedback"] = {k: feedback[k] for k in ("count", "digest", "dir")} if feedback else None
    decision["summary"] = decision_summary(decision)
    report.update(promotion=decision, model=version)
    write_report(Path(report_dir), report, read_test_pixels(data_dir), f"Training run {Path(report_dir).name}")
    shutil.rmtree(Path(candidate_dir), ignore_errors=True)
    log(f"registered {version}; {decision['summary']}")
    return decision


def decision_summary(decision: dict) -> str:
    """One line: the decision, both models' validation accuracy (and test) and why, e.g. "promoted:
    validation 99.12% vs 98.95% of the current model, test 99.10% vs 98.90% (better validation accuracy)"."""
    def pct(value):
        return "n/a" if value is None else f"{value:.2%}"

    verdict = "promoted" if decision["promoted"] else "not promoted"
    if decision.get("current") is None:
        scores = f"validation {pct(decision.get('candidate_val_accuracy'))}"
    else:
        scores = (f"validation {pct(decision.get('candidate_val_accuracy'))} vs "
                  f"{pct(decision.get('current_val_accuracy'))} of the current model")
        if "candidate_test_accuracy" in decision:
            scores += (f", test {pct(decision.get('candidate_test_accuracy'))} vs "
                       f"{pct(decision.get('current_test_accuracy'))}")
    return f"{verdict}: {scores} ({decision['reason']})"


def champion_scores(registry: Registry, data_dir: str | os.PathLike, log=print) -> dict:
    """The current model's validation and test accuracy on this run's data (the challenger's data)."""
    current = registry.current()
    if current is None:
        return {"current": None, "current_scores": None}
    try:
        model, _ = modelfile.load_model(registry.path(current["version"]))
        scores = {name: model.score(X, y) for name, (X, y) in read_splits(data_dir, ("validation", "test")).items()}
    except DigitsError as exc:
        log(f"current model {current['version']} cannot be evaluated: {exc}")
        scores = None
    return {"current": current["version"], "current_scores": scores}


def code_version() -> str:
    """git describe of the source tree when available, else the package version."""
    here = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return metadata.version("digits")
    except metadata.PackageNotFoundError:
        return "unknown"


def library_versions() -> dict:
    """Versions of Python and the libraries a model depends on (read without importing them)."""
    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "pillow", "pyarrow", "prefect"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
