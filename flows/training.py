"""Training flow: fetch -> prepare -> fold in feedback -> distort -> train -> evaluate -> register;
and the evaluation flow."""
from __future__ import annotations

from prefect import flow

from tasks.data import distort_training_split, fetch_raw, fold_feedback, prepare_data
from tasks.training import (
    evaluate_model,
    publish_report,
    record_run_outcome,
    register_model,
    start_training_run,
    train_model,
)

RECORD = [record_run_outcome]


@flow(name="digits-train", on_completion=RECORD, on_failure=RECORD, on_crashed=RECORD, on_cancellation=RECORD)
def training_flow(artifacts: str, preset: str = "default", hidden_sizes: list[int] | None = None,
                  max_iter: int | None = None, lam: float | None = None, seed: int | None = None,
                  copies: int | None = None, distortions: list[str] | None = None,
                  source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
                  validation_size: int = 5000, split_seed: int = 0, feedback: str | None = None,
                  use_feedback: bool = True, force_promote: bool = False, show_progress: bool = True,
                  family: str | None = None) -> dict:
    """Train a challenger and register it (the `preset`'s model, or a model `family` with its own
    defaults, with the given overrides); it becomes current only if it beats the current model on
    the same validation data (or `force_promote`). Feedback images (`feedback`, default
    artifacts/feedback) are added to the training split. One training run at a time per artifacts
    folder: a run that finds another in progress is skipped. Returns the registry's decision."""
    run_id = start_training_run(artifacts, preset)
    if run_id is None:
        return {"skipped": True, "promoted": False, "reason": "another training run is in progress"}
    raw_dir = fetch_raw(artifacts, source, dataset_name, base_url)
    base_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    data_dir = fold_feedback(artifacts, base_dir, feedback, use_feedback)
    overrides = {"hidden_sizes": hidden_sizes, "max_iter": max_iter, "lam": lam, "seed": seed, "copies": copies,
                 "distortions": distortions}
    distorted_dir = distort_training_split(artifacts, data_dir, preset, overrides, family)
    candidate = train_model(artifacts, data_dir, distorted_dir, run_id, preset, overrides, show_progress, family)
    report_dir = evaluate_model(artifacts, candidate, data_dir, f"train-{run_id}")
    publish_report(report_dir, f"train-{run_id}")
    decision = register_model(artifacts, candidate, report_dir, data_dir, force_promote)
    return {**decision, "skipped": False, "run": run_id, "report": report_dir, "data_dir": data_dir}


@flow(name="digits-evaluate")
def evaluation_flow(artifacts: str, model_dir: str, data_dir: str | None = None, source: str = "bundled",
                    dataset_name: str = "mnist", validation_size: int = 5000, split_seed: int = 0,
                    report_name: str = "evaluate", labelled: str | None = None) -> str:
    """Evaluate a model on its data splits (prepared again if they were removed), and on a folder of
    labelled images `<labelled>/<digit>/<image>` when given; returns the report folder."""
    if data_dir is None:
        raw_dir = fetch_raw(artifacts, source, dataset_name)
        data_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    report_dir = evaluate_model(artifacts, model_dir, data_dir, report_name, labelled)
    publish_report(report_dir, report_name)
    return report_dir
