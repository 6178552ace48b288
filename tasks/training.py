"""Prefect tasks of the training flow: train a candidate, evaluate it, register and maybe promote it.

A run works in artifacts/runs/<run>/ (candidate model) and artifacts/reports/<run>/ (reports); the
registry only ever sees complete version folders, so a killed run leaves no partial model.
"""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from nnmodel import modelfile, original
from nnmodel.errors import DigitsError
from nnmodel.network import Network
from nnmodel.registry import Registry
from nnmodel.train import PRESETS, jittered_copies
from tasks import reports
from tasks.splits import read_split, read_split_uint8


def recipe_for(preset: str = "default", **overrides) -> dict:
    """The preset's recipe with any non-None overrides applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    recipe = dict(PRESETS[preset], preset=preset)
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    return recipe


def new_run_id() -> str:
    import secrets

    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


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
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digits")
    except PackageNotFoundError:
        return "unknown"


def library_versions() -> dict:
    import prefect
    import pyarrow
    import scipy
    import PIL

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "pillow": PIL.__version__, "pyarrow": pyarrow.__version__, "prefect": prefect.__version__}


class TerminalProgress:
    """Progress lines on stderr: iteration, loss, validation accuracy, time left."""

    def __init__(self, logger=None):
        self.logger = logger
        self.live = sys.stderr.isatty()

    def __call__(self, info: dict) -> None:
        line = (f"  iteration {info['iteration']:>4}/{info['maxiter']}  loss {info['loss']:.4f}"
                + (f"  validation {info['val_accuracy']:.2%}" if "val_accuracy" in info else "")
                + f"  {info['seconds']:.0f} s, ~{info['eta_seconds']:.0f} s left")
        if "val_accuracy" in info:
            if self.logger:
                self.logger.info(line.strip())
            print(("\r" if self.live else "") + line + ("\033[K" if self.live else ""), file=sys.stderr,
                  end="\n" if not self.live else "", flush=True)
        elif self.live:
            print("\r" + line + "\033[K", file=sys.stderr, end="", flush=True)

    def close(self):
        if self.live:
            print(file=sys.stderr, flush=True)


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(artifacts: str, data_dir: str, recipe: dict, run_id: str, show_progress: bool = True) -> str:
    """Fit a Network with L-BFGS-B on the train split; writes runs/<run>/candidate; returns it."""
    logger = get_run_logger()
    X, y = read_split(Path(data_dir) / "train.parquet")
    X_val, y_val = read_split(Path(data_dir) / "validation.parquet")
    X_fit, y_fit = jittered_copies(X, y, recipe["jitter_copies"], seed=recipe.get("seed", 0))
    net = Network(hidden_sizes=recipe["hidden_sizes"], hidden=recipe["hidden"], output=recipe["output"],
                  lam=recipe["lam"], dtype=recipe.get("dtype", "float32"), seed=recipe.get("seed", 0),
                  init_scale=recipe["init_scale"])
    logger.info("training %r on %d examples for up to %d iterations", net, len(X_fit), recipe["maxiter"])
    progress = TerminalProgress(logger) if show_progress else None
    try:
        net.fit(X_fit, y_fit, maxiter=recipe["maxiter"], X_val=X_val, y_val=y_val,
                eval_every=recipe.get("eval_every", 10), patience=recipe.get("patience"),
                memory=recipe["memory"], progress=progress)
    finally:
        if progress:
            progress.close()
    candidate = Path(artifacts) / "runs" / run_id / "candidate"
    modelfile.save_model(net, candidate, {
        "recipe": recipe, "run": run_id,
        "training": {"iterations": net.n_iter_, "seconds": round(net.train_seconds_, 2),
                     "stop_reason": net.stop_reason_, "examples": int(len(X_fit)),
                     "history": net.history_[-1:] if net.history_ else []},
    })
    return str(candidate)


@task(name="evaluate-model", cache_policy=NO_CACHE)
def evaluate_model(artifacts: str, model_dir: str, data_dir: str, report_name: str, publish: bool = True) -> str:
    """Accuracy, per-class precision/recall/F1, confusion, worst mistakes on every split; returns the
    report folder (reports/<report_name>), also published as Prefect table and markdown artifacts."""
    net, meta = modelfile.load_model(model_dir)
    data = {name: read_split(Path(data_dir) / f"{name}.parquet") for name in ("train", "validation", "test")}
    report = reports.evaluate(net, data)
    report.update({"model": meta.get("version", model_dir), "data_dir": str(data_dir),
                   "data_manifest": json.loads((Path(data_dir) / "manifest.json").read_text())["files"]})
    test_pixels, _ = read_split_uint8(Path(data_dir) / "test.parquet")
    folder = Path(artifacts) / "reports" / report_name
    reports.write_report(folder, report, test_pixels.reshape(-1, 28, 28), f"Evaluation {report_name}")
    if publish:
        publish_report(report, report_name)
    return str(folder)


def publish_report(report: dict, name: str) -> None:
    """Show the report in the Prefect UI: a per-digit table and the Markdown summary."""
    key = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:100]
    test = report["splits"]["test"]
    create_table_artifact(key=f"per-digit-{key}", table=[
        {"digit": c["digit"], "precision": round(c["precision"], 4), "recall": round(c["recall"], 4),
         "f1": round(c["f1"], 4), "support": c["support"]} for c in test["per_class"]],
        description=f"Test accuracy {test['accuracy']:.2%}")
    create_markdown_artifact(key=f"report-{key}", markdown=reports.markdown(report, f"Evaluation {name}"),
                             description="digits evaluation report")


@task(name="register-model", cache_policy=NO_CACHE)
def register_model(artifacts: str, candidate_dir: str, report_dir: str, data_dir: str,
                   force_promote: bool = False) -> dict:
    """Copy the candidate into a new registry version with its metrics; promote it if it beats the
    current model on validation accuracy (or when forced). Returns the decision."""
    logger = get_run_logger()
    registry = Registry(artifacts)
    net, meta = modelfile.load_model(candidate_dir)
    report = reports.read_report(report_dir)
    manifest = json.loads((Path(data_dir) / "manifest.json").read_text())
    metrics = {split: {"accuracy": r["accuracy"], "macro_f1": r["macro"]["f1"]}
               for split, r in report["splits"].items()}
    with registry.new_version() as (staging, version):
        meta.update({"version": version, "metrics": metrics, "report": str(report_dir),
                     "data": {"dir": str(data_dir), "dataset": manifest["dataset"],
                              "raw_digest": manifest["raw_digest"], "files": manifest["files"],
                              "feedback": manifest.get("feedback")},
                     "libraries": library_versions(), "code_version": code_version(),
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        meta.pop("format", None), meta.pop("network", None), meta.pop("npz_sha256", None)
        modelfile.save_model(net, staging, meta)
        if len(net.params_) == 2 and net.hidden == "sigmoid":
            original.save_thetas(net, staging)
    scores = {"candidate": {split: metrics[split]["accuracy"] for split in ("validation", "test")},
              **champion_scores(registry, data_dir, logger)}
    decision = registry.promote(version, force=force_promote, scores=scores)
    fb = manifest.get("feedback")
    decision["feedback"] = {"count": fb["count"], "digest": fb["digest"], "dir": fb["dir"]} if fb else None
    report["promotion"] = decision
    report["model"] = version
    reports.write_report(Path(report_dir), report, _test_images(data_dir), f"Training run {Path(report_dir).name}")
    shutil.rmtree(Path(candidate_dir).parent, ignore_errors=True)
    logger.info("registered %s; %s (%s)", version, "promoted" if decision["promoted"] else "not promoted",
                decision["reason"])
    return decision


def champion_scores(registry: Registry, data_dir: str, logger) -> dict:
    """The current model's validation and test accuracy on this run's data (the challenger's data)."""
    current = registry.current()
    if current is None:
        return {"current": None, "current_scores": None}
    try:
        net, _ = modelfile.load_model(registry.path(current["version"]))
        scores = {split: net.score(*read_split(Path(data_dir) / f"{split}.parquet")) for split in ("validation", "test")}
    except DigitsError as exc:
        logger.warning("current model %s cannot be evaluated: %s", current["version"], exc)
        scores = None
    return {"current": current["version"], "current_scores": scores}


def _test_images(data_dir: str) -> np.ndarray:
    return read_split_uint8(Path(data_dir) / "test.parquet")[0].reshape(-1, 28, 28)
