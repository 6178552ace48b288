"""Training flow: fetch -> prepare -> fold in feedback -> train -> evaluate -> register; evaluation flow."""
from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, runtime

from tasks.data import fetch_raw, fold_feedback_data, prepare_data
from tasks.runs import exclusive_training, record_run
from tasks.training import evaluate_model, new_run_id, recipe_for, register_model, train_model


def default_feedback_dir(artifacts: str, feedback: str | None, use_feedback: bool) -> str | None:
    """The feedback folder to fold in: `feedback`, else artifacts/feedback when it exists; None if off."""
    if not use_feedback:
        return None
    if feedback:
        return str(Path(feedback).resolve())
    default = Path(artifacts) / "feedback"
    return str(default) if default.is_dir() else None


@flow(name="digits-train")
def training_flow(artifacts: str, preset: str = "default", hidden: int | None = None,
                  maxiter: int | None = None, lam: float | None = None, seed: int | None = None,
                  source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
                  validation_size: int = 5000, split_seed: int = 0, force_promote: bool = False,
                  show_progress: bool = True, feedback: str | None = None, use_feedback: bool = True) -> dict:
    """Train a challenger and register it; it becomes current only if it beats the current model on
    the same validation data (or `force_promote`). Feedback images (`feedback`, default
    artifacts/feedback) are added to the training split. Only one training run at a time per artifacts
    folder: a run that finds another in progress is skipped. Returns the decision (see runs/history.jsonl).
    """
    run_id = new_run_id()
    started = time.time()
    entry = {"run": run_id, "flow_run_id": str(runtime.flow_run.id or ""), "preset": preset,
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))}
    with exclusive_training(artifacts) as acquired:
        if not acquired:
            record_run(artifacts, {**entry, "outcome": "skipped", "reason": "another training run is in progress"})
            return {"skipped": True, "promoted": False, "run": run_id,
                    "reason": "another training run is in progress in this artifacts folder"}
        try:
            recipe = recipe_for(preset, hidden_sizes=[hidden] if hidden else None, maxiter=maxiter, lam=lam,
                                seed=seed)
            raw_dir = fetch_raw(artifacts, source, dataset_name, base_url)
            base_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
            data_dir = fold_feedback_data(artifacts, base_dir, default_feedback_dir(artifacts, feedback, use_feedback))
            candidate = train_model(artifacts, data_dir, recipe, run_id, show_progress)
            report_dir = evaluate_model(artifacts, candidate, data_dir, f"train-{run_id}")
            decision = register_model(artifacts, candidate, report_dir, data_dir, force_promote)
        except BaseException as exc:
            record_run(artifacts, {**entry, "outcome": "failed", "error": f"{type(exc).__name__}: {exc}"[:300],
                                   "seconds": round(time.time() - started, 1)})
            raise
    record_run(artifacts, {**entry, "outcome": "promoted" if decision["promoted"] else "not promoted",
                           "reason": decision["reason"], "version": decision["candidate"],
                           "current_before": decision["current"],
                           "challenger": {"validation": decision["candidate_val_accuracy"],
                                          "test": decision.get("candidate_test_accuracy")},
                           "champion": {"validation": decision["current_val_accuracy"],
                                        "test": decision.get("current_test_accuracy")},
                           "data_dir": data_dir, "feedback": decision.get("feedback"), "report": report_dir,
                           "seconds": round(time.time() - started, 1)})
    return {**decision, "skipped": False, "report": report_dir, "run": run_id, "data_dir": data_dir}


@flow(name="digits-evaluate")
def evaluation_flow(artifacts: str, model_dir: str, data_dir: str | None = None, source: str = "bundled",
                    dataset_name: str = "mnist", validation_size: int = 5000, split_seed: int = 0,
                    report_name: str = "evaluate") -> str:
    """Evaluate a registered model on its data splits (re-prepared if they were removed)."""
    if data_dir is None:
        raw_dir = fetch_raw(artifacts, source, dataset_name)
        data_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    return evaluate_model(artifacts, model_dir, data_dir, report_name)
