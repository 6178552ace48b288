"""`digits train` and `digits evaluate`: the training flow, and reports for a registered model."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli import options as o
from cli import prefect_env
from cli.data import check_source
from nnmodel.errors import SetupError
from nnmodel.model.presets import MEASURED, PRESETS
from nnmodel.progress import say


class ListPresets(argparse.Action):
    """--list-presets: every preset with its hyperparameters and measured figures, then exit."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from nnmodel.model.presets import describe_preset

        for name in PRESETS:
            print(f"{name:<9} {describe_preset(name)}")
            print(f"{'':<9} measured: {MEASURED[name]}")
        parser.exit(0)


def register(commands) -> None:
    train = commands.add_parser(
        "train", help="train a model with L-BFGS-B, evaluate and register it",
        description="The training flow: fetch -> prepare -> fold in feedback -> train -> evaluate -> register. "
                    "The new model becomes current only if it beats the current one on validation accuracy.")
    o.add(train, *o.RECIPE_OPTIONS)
    train.add_argument("--list-presets", action=ListPresets, help="show every preset with its measured figures")
    o.add(train, o.TRAIN_DASK, o.FORCE_PROMOTE, o.QUIET, o.FEEDBACK, o.NO_FEEDBACK, *o.SPLIT_OPTIONS, *o.SOURCE_OPTIONS)
    train.set_defaults(handler=run_train, runs_flows=True)

    evaluate = commands.add_parser(
        "evaluate", help="write evaluation reports for a model",
        description="Accuracy on train/validation/test, per-digit precision/recall/F1, the confusion "
                    "matrix and the worst mistakes, as JSON, CSV, Markdown and PNG under reports/; the same "
                    "for other writers' digits, and for your own labelled images with --labelled.",
        epilog="example:\n  digits evaluate --labelled class-7b/    # class-7b/0/*.png ... class-7b/9/*.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add(evaluate, o.MODEL, o.MAX_PIXELS)
    evaluate.add_argument("--labelled", metavar="DIR",
                          help="also score images you labelled, as DIR/<digit>/<image> (e.g. your class's "
                               "handwriting): accuracy, per digit, confusion and each file read wrong")
    evaluate.set_defaults(handler=run_evaluate, runs_flows=True)


def check_feedback(args) -> None:
    if args.feedback and not Path(args.feedback).is_dir():
        raise SetupError(f"{args.feedback}: no such feedback folder (expected <digit>/<image> files)")


OVERRIDES = ("hidden_sizes", "max_iter", "lam", "seed", "copies", "distortions")  # the recipe options


def flow_parameters(args) -> dict:
    """The training flow's parameters from the command line (shared with `digits schedule`)."""
    return {"artifacts": str(args.layout.root), "preset": args.preset, "family": args.family,
            "hidden_sizes": [args.hidden] if args.hidden else None, "max_iter": args.maxiter,
            "lam": getattr(args, "lam", None), "seed": args.seed, "copies": args.copies,
            "distortions": args.distortions,
            "feedback": str(Path(args.feedback).resolve()) if args.feedback else None,
            "use_feedback": not args.no_feedback, "dask": getattr(args, "dask", None)}


def check_recipe(args) -> None:
    """The preset (or family) with the options' overrides must make a valid model, before any work starts."""
    from nnmodel.model.presets import recipe

    params = flow_parameters(args)
    try:
        recipe(args.preset, args.family, **{k: params[k] for k in OVERRIDES})
    except ValueError as exc:
        which = f"--family {args.family}" if args.family else f"--preset {args.preset}"
        raise SetupError(f"{which} with these options: {exc}") from None


def check_dask(address: str | None) -> None:
    """A --dask scheduler must answer and have workers, before any work starts."""
    if not address:
        return
    try:
        from distributed import Client
    except ImportError:
        raise SetupError("--dask needs dask.distributed: pip install 'digits[dask]'") from None
    try:
        with Client(address, timeout="5s", set_as_default=False) as client:
            workers = len(client.scheduler_info(n_workers=-1)["workers"])
    except (OSError, TimeoutError, ValueError) as exc:
        raise SetupError(f"--dask {address}: no Dask scheduler answers there ({exc})") from None
    if not workers:
        raise SetupError(f"--dask {address}: the scheduler has no workers (start some with `dask worker {address}`)")


def run_train(args) -> int:
    check_source(args.source)
    check_feedback(args)
    check_recipe(args)
    check_dask(args.dask)
    training_flow = prefect_env.import_flows("training").training_flow
    from nnmodel.reports.render import read_report

    which = f"family {args.family}" if args.family else f"preset {args.preset}"
    say(f"digits train: {which}, source {args.source} -> {args.layout.root}")
    started = time.perf_counter()
    with prefect_env.flow_settings():
        decision = prefect_env.run_flow(
            training_flow, **flow_parameters(args), source=args.source, dataset_name=args.dataset_name,
            base_url=args.base_url, validation_size=args.validation_size, split_seed=args.split_seed,
            force_promote=args.force_promote, show_progress=not args.quiet)
    if decision.get("skipped"):
        say(f"skipped: {decision['reason']}")
        return 0
    report = read_report(decision["report"])
    acc = {name: r["accuracy"] for name, r in report["splits"].items()}
    say(f"model {decision['candidate']}: test {acc['test']:.2%}, validation {acc['validation']:.2%}, "
        f"train {acc['train']:.2%} ({time.perf_counter() - started:.0f} s)")
    say("other writers: " + other_writers_line(report.get("others") or {}))
    if args.dask:
        from nnmodel.model.modelfile import read_metadata
        from nnmodel.store.registry import Registry

        training = read_metadata(Registry(args.layout).path(decision["candidate"])).get("training", {})
        say(f"trained in {training.get('shards', '?')} shards on {training.get('where', args.dask)}")
    if line := feedback_line(args.layout, decision["data_dir"], args.feedback, args.no_feedback):
        say(line)
    verdict = "promoted to current" if decision["promoted"] else "kept, not promoted"
    current = f"; current stays {decision['current']}" if not decision["promoted"] and decision["current"] else ""
    say(f"{verdict}: {decision['reason']}{current}")
    say(f"report: {decision['report']}/report.md")
    print(decision["candidate"])
    return 0


def feedback_line(layout, data_dir: str, feedback: str | None, no_feedback: bool) -> str | None:
    """What the run added from the feedback folder: how many labelled images, and what it left out;
    None when there is no feedback folder to speak of."""
    if no_feedback:
        return "feedback: not used (--no-feedback)"
    record = layout.manifest(data_dir).get("feedback")
    folder = Path(feedback) if feedback else layout.feedback
    if not record:
        return f"feedback: none added (no readable labelled images in {folder})" if folder.is_dir() else None
    left_out = record.get("left_out") or []
    more = f"; {len(left_out)} left out, e.g. {left_out[0]}" if left_out else ""
    return f"feedback: {record['count']:,} labelled images from {record['dir']} added to the training data{more}"


def other_writers_line(others: dict) -> str:
    return ", ".join(f"{name} {r['accuracy']:.2%}" if "accuracy" in r else r["missing"] for name, r in others.items()
                     if name != "labelled")


def run_evaluate(args) -> int:
    from nnmodel.model.modelfile import read_metadata
    from nnmodel.reports.render import in_split_order, read_report
    from nnmodel.store.registry import Registry

    if args.labelled:
        from nnmodel.store.feedback import labelled_files, skipped_entries

        if not Path(args.labelled).is_dir() or not labelled_files(args.labelled):
            problem = "no such folder" if not Path(args.labelled).is_dir() else "no images in its 0-9 folders"
            skipped = skipped_entries(args.labelled)
            also = f"; {len(skipped)} skipped, e.g. {skipped[0]}" if skipped else ""
            raise SetupError(f"--labelled {args.labelled}: {problem} (expected <digit>/<image> files){also}")
    model_dir = Registry(args.layout).resolve(args.model)
    meta = read_metadata(model_dir)
    data_dir = meta.get("data", {}).get("dir")
    if data_dir and not (Path(data_dir) / "manifest.json").is_file():
        say(f"data folder {data_dir} is gone; preparing it again")
        data_dir = None
    evaluation_flow = prefect_env.import_flows("training").evaluation_flow
    name = f"evaluate-{model_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with prefect_env.flow_settings():
        folder = prefect_env.run_flow(evaluation_flow, str(args.layout.root), str(model_dir), data_dir,
                                      dataset_name=meta.get("data", {}).get("dataset", "mnist"), report_name=name,
                                      labelled=str(Path(args.labelled).resolve()) if args.labelled else None)
    report = read_report(folder)
    for split, r in in_split_order(report["splits"]):
        say(f"{split:>10}: accuracy {r['accuracy']:.2%}, macro F1 {r['macro']['f1']:.4f} ({r['n']:,} images)")
    say("other writers: " + other_writers_line(report.get("others") or {}))
    labelled = (report.get("others") or {}).get("labelled")
    if labelled:
        wrong = len(labelled["mistakes"])
        left_out = f", {len(labelled['unreadable'])} left out" if labelled["unreadable"] else ""
        listed = " (listed in labelled_mistakes.csv)" if wrong else ""
        say(f"your labelled images: {labelled['accuracy']:.2%} of {labelled['n']:,} read right, {wrong:,} wrong"
            f"{listed}{left_out}")
    say(f"report: {folder}/report.md")
    print(folder)
    return 0
