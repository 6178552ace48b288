"""Tasks of a training run: claim the run, train a candidate, evaluate it, publish the report,
register it; and the flow state hook that records how the run ended."""
from __future__ import annotations

from prefect import get_run_logger, runtime, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from nnmodel import training
from nnmodel.progress import COSTLY_REPORT_SECONDS, TrainingProgress, at_most_every
from nnmodel.reports import evaluate, render
from nnmodel.store import runs
from nnmodel.store.layout import Layout


@task(name="start-training-run", cache_policy=NO_CACHE)
def start_training_run(artifacts: str, preset: str) -> str | None:
    """Claim the artifacts folder for one training run; None (recorded as skipped) when another
    run holds it. Returns the run id."""
    run_id = runs.new_run_id()
    info = {"preset": preset, "flow_run_id": str(runtime.flow_run.id or "")}
    return run_id if runs.start_run(Layout(artifacts), run_id, info) else None


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(artifacts: str, data_dir: str, distorted_dir: str | None, run_id: str, preset: str = "default",
                overrides: dict | None = None, show_progress: bool = True, family: str | None = None,
                dask: str | None = None) -> str:
    """Fit the recipe's model with L-BFGS-B on the train split and its distorted copies (on the Dask
    cluster whose scheduler is at `dask`, when given); returns the candidate model folder. Progress goes
    to the terminal and, live, to a progress artifact on the run's page."""
    logger = get_run_logger()
    terminal = TrainingProgress(show=show_progress, log=logger.info)
    recipe = "".join(c if c.isalnum() else "-" for c in (family or preset).lower())
    artifact = create_progress_artifact(0.0, key=f"training-{recipe}",
                                        description=f"Training run {run_id}: L-BFGS-B iterations done (%)")

    due = at_most_every(COSTLY_REPORT_SECONDS)  # each update is an API call

    def progress(info: dict) -> None:
        terminal(info)
        if due():
            update_progress_artifact(artifact, 100.0 * info["iteration"] / info["max_iter"])

    try:
        candidate = training.train_candidate(Layout(artifacts), data_dir, run_id, preset, overrides, distorted_dir,
                                             progress, log=logger.info, family=family, dask=dask)
        update_progress_artifact(artifact, 100.0)  # done (also when it stopped early)
        return str(candidate)
    finally:
        terminal.close()


@task(name="evaluate-model", cache_policy=NO_CACHE)
def evaluate_model(artifacts: str, model_dir: str, data_dir: str, report_name: str,
                   labelled: str | None = None) -> str:
    """Accuracy, per-class precision/recall/F1, confusion, worst mistakes on every split (and on a
    folder of labelled images); returns the report folder."""
    return str(evaluate.evaluate_model(Layout(artifacts), model_dir, data_dir, report_name, labelled))


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(report_dir: str, title: str, key: str) -> None:
    """Show a report in the Prefect UI: the Markdown report with its pictures, and tables per digit
    (MNIST test, other writers) and per confidence threshold. Artifact keys are stable (`report-<key>`,
    ...; key: e.g. train-<preset>), so each key's history in the UI compares runs over time."""
    report = render.read_report(report_dir)
    key = "".join(c if c.isalnum() else "-" for c in key.lower()).strip("-")[:80]
    test = report["splits"]["test"]
    create_table_artifact(key=f"per-digit-{key}", table=render.per_digit_rows(test),
                          description=f"{title}: test accuracy {test['accuracy']:.2%}")
    others = report.get("others") or {}
    if render.other_writers_rows(others):
        create_table_artifact(key=f"other-writers-{key}", table=render.other_writers_rows(others),
                              description=f"{title}: read right per digit: " + ", ".join(
                                  f"{name} {r['accuracy']:.2%}" for name, r in others.items() if "accuracy" in r))
    if report.get("thresholds"):
        ece = report["calibration"]["ece"]
        create_table_artifact(key=f"confidence-{key}", table=report["thresholds"],
                              description=f"{title}: what --min-confidence would flag on test (ECE {ece:.2%})")
    create_markdown_artifact(key=f"report-{key}", markdown=render.ui_markdown(report_dir, title),
                             description=f"{title}: {report.get('promotion', {}).get('summary', 'evaluation')}")


@task(name="register-model", cache_policy=NO_CACHE)
def register_model(artifacts: str, candidate_dir: str, report_dir: str, data_dir: str,
                   force_promote: bool = False) -> dict:
    """Register the candidate as a new version; promote it if it beats the current model on the same
    validation data (or when forced). Returns the decision."""
    return training.register_candidate(Layout(artifacts), candidate_dir, report_dir, data_dir, force_promote,
                                       log=get_run_logger().info)


def label_flow_run(flow, flow_run, state) -> None:
    """Flow state hook: tag the run with its recipe (preset or family), how it ended (promoted,
    not-promoted, skipped, failed, crashed, cancelled) and what started it (manual, scheduled,
    on-feedback), and "dask" when it trained on a Dask cluster, for filtering in the UI."""
    parameters = flow_run.parameters
    result = state.result(raise_on_failure=False) if state.is_completed() else None
    if isinstance(result, dict):
        outcome = "skipped" if result.get("skipped") else "promoted" if result.get("promoted") else "not-promoted"
    else:
        outcome = "crashed" if state.is_crashed() else "cancelled" if state.is_cancelling() or \
            state.is_cancelled() else "failed"
    creator = str(flow_run.created_by.type) if flow_run.created_by is not None else None
    recipe = parameters.get("family") or parameters.get("preset") or "default"
    tags = sorted({*flow_run.tags, recipe, outcome, runs.started_by(creator, bool(flow_run.auto_scheduled)),
                   *(["dask"] if parameters.get("dask") else [])})
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=tags)


def record_run_outcome(flow, flow_run, state) -> None:
    """Flow state hook: record how this flow run's training run ended in runs/history.jsonl."""
    layout = Layout(flow_run.parameters["artifacts"])
    run_id = runs.run_of_flow_run(layout, flow_run.id)
    if run_id is None:  # skipped (recorded when it started) or ended before it claimed a run
        return
    result = state.result(raise_on_failure=False) if state.is_final() else None  # cancelling: none yet
    if state.is_completed() and isinstance(result, dict) and "promoted" in result:
        runs.finish_run(layout, run_id, runs.outcome_of(result))
    else:
        outcome = "crashed" if state.is_crashed() else "cancelled" if state.is_cancelling() else "failed"
        error = result if isinstance(result, BaseException) else None
        runs.finish_run(layout, run_id, runs.failure_of(outcome, error, state.message or ""))
