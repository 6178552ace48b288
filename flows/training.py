"""Training flow: fetch -> prepare -> fold in feedback -> distort -> train -> evaluate -> register;
and the evaluation flow."""
from __future__ import annotations

from prefect import flow, runtime
from prefect.states import Completed

from tasks.data import distort_training_split, fetch_raw, fold_feedback, prepare_data
from tasks.training import (
    evaluate_model,
    label_flow_run,
    publish_report,
    record_run_outcome,
    register_model,
    start_training_run,
    train_model,
)

HOOKS = [record_run_outcome, label_flow_run]


def training_run_name() -> str:
    """A flow run's name from its recipe and when it started: train-default-seed0-20261207-183000."""
    parameters = runtime.flow_run.parameters
    recipe = parameters.get("family") or parameters.get("preset") or "default"
    started = runtime.flow_run.scheduled_start_time.astimezone()  # local time, as the user reads it
    return f"train-{recipe}-seed{parameters.get('seed') or 0}-{started.strftime('%Y%m%d-%H%M%S')}"


def evaluation_run_name() -> str:
    """evaluate-<model version>-20261207-183000."""
    return f"evaluate-{runtime.flow_run.parameters.get('report_name', 'model')}"


@flow(name="digits-train", flow_run_name=training_run_name, on_completion=HOOKS, on_failure=HOOKS,
      on_crashed=HOOKS, on_cancellation=HOOKS)
def training_flow(artifacts: str, preset: str = "default", hidden_sizes: list[int] | None = None,
                  max_iter: int | None = None, lam: float | None = None, seed: int | None = None,
                  copies: int | None = None, distortions: list[str] | None = None,
                  source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
                  validation_size: int = 5000, split_seed: int = 0, feedback: str | None = None,
                  use_feedback: bool = True, force_promote: bool = False, show_progress: bool = True,
                  family: str | None = None, dask: str | None = None) -> dict:
    """Train a challenger and register it (the `preset`'s model, or a model `family` with its own
    defaults, with the given overrides); it becomes current only if it beats the current model on
    the same validation data (or `force_promote`). Feedback images (`feedback`, default
    artifacts/feedback) are added to the training split. One training run at a time per artifacts
    folder: a run that finds another in progress is skipped. With `dask` (a scheduler's address) the
    model is fitted on that Dask cluster. Returns the registry's decision."""
    recipe = family or preset
    run_id = start_training_run(artifacts, recipe)
    if run_id is None:
        reason = "another training run is in progress"
        return Completed(message=f"skipped: {reason}", data={"skipped": True, "promoted": False, "reason": reason})
    raw_dir = fetch_raw(artifacts, source, dataset_name, base_url)
    base_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    data_dir = fold_feedback(artifacts, base_dir, feedback, use_feedback)
    overrides = {"hidden_sizes": hidden_sizes, "max_iter": max_iter, "lam": lam, "seed": seed, "copies": copies,
                 "distortions": distortions}
    distorted_dir = distort_training_split(artifacts, data_dir, preset, overrides, family)
    candidate = train_model(artifacts, data_dir, distorted_dir, run_id, preset, overrides, show_progress, family, dask)
    report_dir = evaluate_model(artifacts, candidate, data_dir, f"train-{run_id}")
    decision = register_model(artifacts, candidate, report_dir, data_dir, force_promote)
    publish_report(report_dir, f"Training run {run_id}", f"train-{recipe}")
    return Completed(message=decision["summary"], data={**decision, "skipped": False, "run": run_id,
                                                        "report": report_dir, "data_dir": data_dir})


@flow(name="digits-evaluate", flow_run_name=evaluation_run_name)
def evaluation_flow(artifacts: str, model_dir: str, data_dir: str | None = None, source: str = "bundled",
                    dataset_name: str = "mnist", validation_size: int = 5000, split_seed: int = 0,
                    report_name: str = "evaluate", labelled: str | None = None) -> str:
    """Evaluate a model on its data splits (prepared again if they were removed), and on a folder of
    labelled images `<labelled>/<digit>/<image>` when given; returns the report folder."""
    if data_dir is None:
        raw_dir = fetch_raw(artifacts, source, dataset_name)
        data_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    report_dir = evaluate_model(artifacts, model_dir, data_dir, report_name, labelled)
    publish_report(report_dir, f"Evaluation {report_name}", "evaluate")
    return report_dir
