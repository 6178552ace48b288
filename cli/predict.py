"""`digits predict PATH...`: classify every image in folders (or given files) into one CSV (the predict flow)."""
from __future__ import annotations

import argparse
import os
import time

from cli import options as o
from cli import prefect_env, server_watch
from nnmodel.errors import SetupError
from nnmodel.progress import say


def register(commands) -> None:
    predict = commands.add_parser(
        "predict", help="classify every image in folders (or given image files) and write a CSV",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Classify every image under the folders, and every image file given (any size, colour, "
                    "polarity; preprocessed to MNIST form) and write one CSV row per file: folder, path, "
                    "predicted digit, confidence, p0..p9, status (ok, low_confidence, several_digits, not_a_digit, "
                    "blank, error) and an error message (for not_a_digit, how likely the model finds it no digit). "
                    "several_digits: the ink is over twice as wide as tall, so the "
                    "image likely holds a number; read those with --numbers, which writes: folder, path, number "
                    "(leading zeros kept), count, confidence (the lowest digit's), digit_confidences, boxes "
                    "(x0:x1 of each digit, ';'-separated), status (ok, low_confidence, not_a_digit: ink but no "
                    "digit, blank, error) and error. Marks that are not digits (specks, a stray line, a letter) "
                    "are left out of a number.",
        epilog="examples:\n  digits predict scans/ --out scans.csv\n"
               "  digits predict forms/ --numbers --out numbers.csv\n"
               "  digits predict photos/ more/ --recursive --min-confidence 0.9 --out digits.csv\n"
               "  digits predict big/ --out big.csv --resume     # after an interruption\n"
               "  digits predict scan-*.png --out some.csv      # files given one by one")
    predict.add_argument("folders", nargs="+", metavar="PATH",
                         help="folders of images, or image files (a file's row names its folder and its name)")
    o.add(predict, o.OUT, o.MODEL, o.RECURSIVE, o.WORKERS, o.CHUNK_SIZE, o.MIN_CONFIDENCE, o.REJECT_THRESHOLD,
          o.NUMBERS, o.RESUME, o.STRICT, o.MAX_PIXELS, o.DASK)
    predict.set_defaults(handler=run, runs_flows=True)


def task_runner_for(workers: int, dask_address: str | None):
    """Threads that hand each chunk to a local process pool, or an existing Dask cluster.
    (Prefect's ProcessPoolTaskRunner took ~10 s to start its workers in a trial here.)"""
    if dask_address:
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise SetupError("--dask needs prefect-dask: pip install 'digits[dask]'") from None
        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


def named_inputs(paths: list[str], shown: int = 3) -> str:
    """The inputs for a message: the first `shown`, then how many more (a shell glob can give thousands)."""
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more:,} more" if more > 0 else "")


def check_something_to_classify(inputs: list[str], recursive: bool) -> None:
    """SetupError before any work when the inputs hold nothing to classify: folders that are empty,
    or (without --recursive) hold only sub-folders, which are read only with --recursive."""
    from nnmodel.batch.listing import list_files

    if recursive or any(not os.path.isdir(path) for path in inputs):
        return
    files, unreadable = list_files(inputs)
    if files or unreadable:
        return
    with_folders = [path for path in inputs if any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(path))]
    if with_folders:
        raise SetupError(f"{named_inputs(with_folders)}: holds only folders; add --recursive to classify the images "
                         "inside them")
    raise SetupError(f"{named_inputs(inputs)}: no files to classify (empty folder)")


SHOW_ROWS = 10  # runs of at most this many files show each file's answer on the terminal


def answer_lines(out, numbers: bool) -> list[str]:
    """One line per row of the CSV `out`: its path, what was read and how sure, or its status (names
    and messages as the CSV writes them: escaped, so a terminal shows them safely)."""
    from nnmodel.batch.parts import read_rows
    from nnmodel.batch.rows import columns

    lines = []
    for values in read_rows(out):
        row = dict(zip(columns(numbers), values))
        path = os.path.normpath(os.path.join(row["folder"], row["path"]))
        read = row["number"] if numbers else row["predicted"]
        if row["status"] == "error":
            message = row["error"]
            for name in (path, row["path"]):  # the message names the file already: once is enough
                message = message.removeprefix(f"{name}: ")
            lines.append(f"  {path}: error: {message}")
        elif row["status"] == "blank":
            lines.append(f"  {path}: blank")
        else:
            note = "" if row["status"] == "ok" else f", {row['status']}"
            lines.append(f"  {path}: {read} ({float(row['confidence']):.1%}{note})")
    return lines


def run(args) -> int:
    from nnmodel.atomic import remove_stale
    from nnmodel.batch.output import check_output, output_lock
    from nnmodel.batch.parts import check_resumable
    from nnmodel.batch.pool import local_pool
    from nnmodel.model.modelfile import load_model
    from nnmodel.store.registry import Registry

    for folder in args.folders:
        if not os.path.lexists(folder):
            raise SetupError(f"{folder}: no such file or folder")
    check_something_to_classify(args.folders, args.recursive)
    model_dir = Registry(args.layout).resolve(args.model)
    load_model(model_dir)  # a broken model is a one-line error before any work starts
    out = check_output(args.out or args.layout.default_predictions_csv(), args.folders, args.recursive)
    with output_lock(out):
        remove_stale(out.parent)  # a killed run's temporary CSV (its parts stay, for --resume)
        if args.resume:
            check_resumable(out, args.numbers)
        predict_flow = prefect_env.import_flows("predict").predict_flow
        workers = args.workers or os.cpu_count() or 1
        processes = 0 if args.dask or workers <= 1 else workers
        say(f"digits predict: {named_inputs(args.folders)} with model {model_dir.name} -> {out}")
        began = time.time()
        server_watch.note(lambda: f"{out} is whole" if out.exists() and out.stat().st_mtime >= began else
                          f"the rows classified so far are kept: the same command with --resume finishes {out}")
        with local_pool(processes), prefect_env.flow_settings():
            summary = prefect_env.run_flow(
                predict_flow.with_options(task_runner=task_runner_for(workers, args.dask)),
                [str(f) for f in args.folders], str(out), str(model_dir), recursive=args.recursive,
                chunk_size=args.chunk_size, min_confidence=args.min_confidence, resume=args.resume,
                numbers=args.numbers, processes=processes, show_progress=True, max_pixels=args.max_pixels,
                reject_threshold=args.reject_threshold)
    status = summary["status"]
    if summary["rows"] <= SHOW_ROWS:  # a few files: their answers on the terminal too
        for line in answer_lines(out, args.numbers):
            say(line)
    shown = {s: n for s, n in status.items() if not (args.numbers and s == "several_digits")}
    say(f"{summary['rows']:,} rows: " + ", ".join(f"{n:,} {s}" for s, n in shown.items())
        + (f" ({summary['skipped']:,} kept from the earlier run)" if summary.get("skipped") else ""))
    per_digit = ", ".join(f"{d}: {n:,}" for d, n in summary["digits"].items())
    say(("digits read: " if args.numbers else "per digit: ") + per_digit)
    say(f"{summary['images_per_second']:,} images/s; wrote {out}")
    print(out)
    if status["error"] == summary["rows"]:
        say("error: no file could be read")
        return 1
    if args.strict and status["error"]:
        say(f"error: {status['error']:,} files could not be read (--strict)")
        return 1
    return 0
