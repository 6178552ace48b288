"""Training flow: fetch -> prepare -> train -> evaluate -> register; and the evaluation flow."""
from __future__ import annotations

from prefect import flow

from tasks.data import fetch_raw, prepare_data
from tasks.training import evaluate_model, new_run_id, recipe_for, register_model, train_model


@flow(name="digits-train")
def training_flow(artifacts: str, preset: str = "default", hidden: int | None = None,
                  maxiter: int | None = None, lam: float | None = None, seed: int | None = None,
                  source: str = "bundled", dataset_name: str = "mnist", base_url: str | None = None,
                  validation_size: int = 5000, split_seed: int = 0, force_promote: bool = False,
                  show_progress: bool = True) -> dict:
    """Train a model and register it; it becomes current only if it beats the current model on
    validation accuracy (or `force_promote`). Returns the promotion decision with the report folder."""
    recipe = recipe_for(preset, hidden_sizes=[hidden] if hidden else None, maxiter=maxiter, lam=lam, seed=seed)
    run_id = new_run_id()
    raw_dir = fetch_raw(artifacts, source, dataset_name, base_url)
    data_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    candidate = train_model(artifacts, data_dir, recipe, run_id, show_progress)
    report_dir = evaluate_model(artifacts, candidate, data_dir, f"train-{run_id}")
    decision = register_model(artifacts, candidate, report_dir, data_dir, force_promote)
    return {**decision, "report": report_dir, "run": run_id}


@flow(name="digits-evaluate")
def evaluation_flow(artifacts: str, model_dir: str, data_dir: str | None = None, source: str = "bundled",
                    dataset_name: str = "mnist", validation_size: int = 5000, split_seed: int = 0,
                    report_name: str = "evaluate") -> str:
    """Evaluate a registered model on its data splits (re-prepared if they were removed)."""
    if data_dir is None:
        raw_dir = fetch_raw(artifacts, source, dataset_name)
        data_dir = prepare_data(artifacts, raw_dir, validation_size, split_seed)
    return evaluate_model(artifacts, model_dir, data_dir, report_name)
