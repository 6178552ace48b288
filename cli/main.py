"""The `digits` command: one subcommand for every user action, one module per command group.

Prefect is imported only inside the handlers that run flows, after `prefect_env.configure()` has set
its environment, so `digits --help` is quick and the viewer never loads Prefect.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading

from cli import (
    data,
    explain,
    feedback,
    gui,
    lifeline,
    models,
    predict,
    prefect_env,
    runs,
    schedule,
    server,
    server_watch,
    stopping,
    train,
)
from cli import options as o
from cli.local_server import answers
from nnmodel.errors import DigitsError
from nnmodel.progress import say
from nnmodel.store.layout import Layout
from nnmodel.store.runs import record_crashed_runs

COMMAND_GROUPS = (data, train, models, predict, explain, gui, feedback, schedule, runs, server)
USES_A_SERVER = ("schedule", "runs")  # besides the commands that run flows
STARTS_NO_CHILDREN = ("server", "models", "runs", "feedback", "explain", "gui")  # (`server start` detaches its own)
WRITES_ARTIFACTS = ("data", "train", "evaluate", "schedule", "feedback")  # checked writable before any work
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


def build_parser() -> argparse.ArgumentParser:
    parser = o.Parser(prog="digits", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                      description="Handwritten digit recognition: fetch MNIST, train a NumPy network with "
                                  "L-BFGS-B, evaluate it, classify image folders, draw digits in a window.")
    o.add(parser, o.ARTIFACTS, o.VERBOSE)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    for sub in leaf_parsers(parser):  # --artifacts and -v also work after the command's name
        o.ARTIFACTS.add(sub, default=argparse.SUPPRESS)
        o.VERBOSE.add(sub, default=argparse.SUPPRESS)
    return parser


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every (sub)command below `parser`."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += [sub, *leaf_parsers(sub)]
    return found


def main(argv: list[str] | None = None) -> int:
    """Run one `digits` command; its exit status. A stop that escapes the command's own handling still
    ends with the status a shell expects (128 + the signal), never as an unhandled interrupt."""
    try:
        return run_command(argv)
    except KeyboardInterrupt:
        return stopping.status()


def run_command(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        # SIGTERM and SIGHUP stop a command as Ctrl-C does, so its cleanup runs; one that comes
        # before the command is known is acted on once it is (below, where it is tidied for)
        stopping.install(held=True)
    try:
        args = build_parser().parse_args(argv)
    except BaseException:  # --help, a bad option: the command ends here
        stopping.release(quietly=True)
        raise
    args.layout = Layout.locate(args.artifacts)
    if args.layout.root.exists() and not args.layout.root.is_dir():
        stopping.release(quietly=True)
        say(f"error: --artifacts {args.layout.root}: is a file, not a folder")
        return 1
    prefect_env.configure(args.verbose)
    prefect_env.reap_orphaned_temporary_servers()
    if args.command not in STARTS_NO_CHILDREN:
        lifeline.start()  # what this command starts (a temporary server, pools) ends with it
    api = None
    try:
        stopping.release()
        args.layout.remove_stale()  # what killed commands left: temporary files, runs never finished
        record_crashed_runs(args.layout)
        if args.command in WRITES_ARTIFACTS:
            args.layout.check_writable()
        if args.runs_flows or args.command in USES_A_SERVER:
            api = prefect_env.use_recorded_server()
        if args.runs_flows:
            prefect_env.check_api()
        if api and answers(api):
            server_watch.watch(api)  # a server that goes away ends the command in one line
        with pixel_limit_of(args):
            status = args.handler(args)
        sys.stdout.flush()  # here, so that a reader gone away is caught below, not at exit
        return status
    except KeyboardInterrupt:
        if threading.current_thread() is threading.main_thread():
            stopping.tidying()
        if getattr(args, "on_interrupt", None):
            return args.on_interrupt(args)
        say(f"interrupted ({stopping.describe()}): nothing half-written was kept")
        return stopping.status()
    except BrokenPipeError:
        return closed_pipe()
    except (DigitsError, ConnectionError) as exc:
        if server_watch.server_gone():
            server_watch.end(api)
        say(f"error: {exc}")
        return 1
    except OSError as exc:  # a system fault outside our writers: still one line, naming the path
        say(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        return 1
    except Exception as exc:  # a bug: one line here, the traceback with -v
        if server_watch.server_gone():  # not a bug: the server's client gave up
            server_watch.end(api)
        if args.verbose:
            raise
        say(f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        return 1


def pixel_limit_of(args):
    """The command's --max-pixels for the images it reads in this process (its flows' tasks too)."""
    if getattr(args, "max_pixels", None) is None:
        return contextlib.nullcontext()
    from nnmodel.images.decode import pixel_limit

    return pixel_limit(args.max_pixels)


CLOSED_PIPE = 128 + 13  # what a shell reports for a tool stopped by SIGPIPE (`seq 1000000 | head -1`)


def closed_pipe() -> int:
    """The reader of our output went away (`digits runs | head -1`): stop quietly, as Unix tools do.
    Whatever is still buffered for stdout goes nowhere (else Python reports the closed pipe at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
